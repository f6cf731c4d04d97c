"""Compact US name-frequency tables for the synthetic patients of benchmarks/generate.py.

Written from memory, not copied from the files, so every weight is approximate:

- SURNAMES: the head of the US Census Bureau's 2010 surname list, as people per 100,000
  (Smith 828, Johnson 655, ... about 40 per 100,000 by rank 150 and about 20 by rank 400). The
  Census list is unaccented upper case; accents are added by generate.py (ACCENTED_SURNAMES).
  The 400 names here cover about 30% of people, as on the real list (the top 1,000 cover about
  42%); generate.py fills the remaining ~70% with a long synthetic tail.
- BOYS / GIRLS: the Social Security Administration's baby-name counts, as approximate births
  per year in thousands for two birth cohorts, "then" (about 2004-2012, today's 12-21 year olds)
  and "now" (about 2013-2025, today's 0-11 year olds), e.g. Jacob 22/9, Liam 4/20. The top
  ~200 names per sex here cover about 55-60% of births (SSA's top 1,000 cover about 73%);
  generate.py adds a synthetic tail of invented and rare names for the rest.
"""

from __future__ import annotations

# name:per-100k, in rank order (US Census 2010, approximate).
SURNAMES = """
Smith:828 Johnson:655 Williams:551 Brown:487 Jones:483 Garcia:394 Miller:394 Davis:381
Rodriguez:355 Martinez:349 Hernandez:343 Lopez:292 Gonzalez:284 Wilson:253 Anderson:250
Thomas:243 Taylor:238 Moore:225 Jackson:224 Martin:222 Lee:220 Perez:214 Thompson:211 White:209
Harris:199 Sanchez:197 Clark:178 Ramirez:176 Lewis:172 Robinson:171 Walker:166 Young:159
Allen:159 King:157 Wright:156 Scott:145 Torres:141 Nguyen:141 Hill:140 Flores:139 Green:138
Adams:136 Nelson:135 Baker:134 Hall:133 Rivera:129 Campbell:125 Mitchell:125 Carter:122
Roberts:121 Gomez:111 Phillips:110 Evans:109 Turner:109 Diaz:107 Parker:105 Cruz:105 Edwards:104
Collins:104 Reyes:103 Stewart:102 Morris:99 Morales:99 Murphy:98 Cook:98 Rogers:98 Gutierrez:97
Ortiz:96 Morgan:96 Cooper:94 Peterson:93 Bailey:92 Reed:92 Kelly:91 Howard:91 Ramos:90 Kim:90
Cox:89 Ward:89 Richardson:88 Watson:87 Brooks:86 Chavez:86 Wood:85 James:85 Bennett:84 Gray:84
Mendoza:83 Ruiz:82 Hughes:81 Price:81 Alvarez:81 Castillo:80 Sanders:80 Patel:79 Myers:79
Long:79 Ross:78 Foster:78 Jimenez:77 Powell:76 Jenkins:75 Perry:75 Russell:74 Sullivan:73
Bell:73 Coleman:73 Butler:72 Henderson:72 Barnes:71 Gonzales:71 Fisher:70 Vasquez:70 Simmons:69
Romero:68 Jordan:68 Patterson:68 Alexander:67 Hamilton:67 Graham:67 Reynolds:66 Griffin:66
Wallace:65 Moreno:65 West:64 Cole:64 Hayes:64 Bryant:63 Herrera:63 Gibson:63 Ellis:62 Tran:62
Medina:62 Aguilar:61 Stevens:61 Murray:61 Ford:60 Castro:60 Marshall:60 Owens:59 Harrison:59
Fernandez:59 Mcdonald:58 Woods:58 Washington:58 Kennedy:57 Wells:57 Vargas:57 Henry:56 Chen:56
Freeman:56 Webb:55 Tucker:55 Guzman:55 Burns:55 Crawford:54 Olson:54 Simpson:54 Porter:54
Hunter:53 Gordon:53 Mendez:53 Silva:53 Shaw:52 Snyder:52 Mason:52 Dixon:52 Munoz:51 Hunt:51
Hicks:51 Holmes:51 Palmer:50 Wagner:50 Black:50 Robertson:50 Boyd:49 Rose:49 Stone:49 Salazar:49
Fox:48 Warren:48 Mills:48 Meyer:48 Rice:47 Schmidt:47 Garza:47 Daniels:47 Ferguson:46 Nichols:46
Stephens:46 Soto:46 Weaver:45 Ryan:45 Gardner:45 Payne:45 Grant:45 Dunn:44 Kelley:44 Spencer:44
Hawkins:44 Arnold:44 Pierce:43 Vazquez:43 Hansen:43 Peters:43 Santos:43 Hart:42 Bradley:42
Knight:42 Elliott:42 Cunningham:42 Duncan:41 Armstrong:41 Hudson:41 Carroll:41 Lane:41 Riley:41
Andrews:40 Alvarado:40 Ray:40 Delgado:40 Berry:40 Perkins:39 Hoffman:39 Johnston:39 Matthews:39
Pena:39 Richards:39 Contreras:38 Willis:38 Carpenter:38 Lawrence:38 Sandoval:38 Guerrero:37
George:37 Chapman:37 Rios:37 Estrada:37 Ortega:37 Watkins:36 Greene:36 Nunez:36 Wheeler:36
Valdez:36 Harper:36 Burke:35 Larson:35 Santiago:35 Maldonado:35 Morrison:35 Franklin:35
Carlson:35 Austin:34 Dominguez:34 Carr:34 Lawson:34 Jacobs:34 Obrien:34 Lynch:34 Singh:34
Vega:33 Bishop:33 Montgomery:33 Oliver:33 Jensen:33 Harvey:33 Williamson:33 Gilbert:33 Dean:32
Sims:32 Espinoza:32 Howell:32 Li:32 Wong:32 Reid:32 Hanson:31 Le:31 Mccoy:31 Garrett:31 Burton:31
Fuller:31 Wang:31 Weber:31 Welch:30 Rojas:30 Lucas:30 Marquez:30 Fields:30 Park:30 Yang:30
Little:30 Banks:29 Padilla:29 Day:29 Walsh:29 Bowman:29 Schultz:29 Luna:29 Fowler:29 Mejia:29
Davidson:28 Acosta:28 Brewer:28 May:28 Holland:28 Juarez:28 Newman:28 Pearson:28 Curtis:28
Cortez:28 Douglas:27 Schneider:27 Joseph:27 Barrett:27 Navarro:27 Figueroa:27 Keller:27
Avila:27 Wade:27 Molina:27 Stanley:26 Hopkins:26 Campos:26 Barnett:26 Bates:26 Chambers:26
Caldwell:26 Beck:26 Lambert:26 Miranda:26 Byrd:25 Craig:25 Ayala:25 Lowe:25 Frazier:25 Powers:25
Neal:25 Leonard:25 Gregory:25 Carrillo:25 Sutton:24 Fleming:24 Rhodes:24 Shelton:24 Schwartz:24
Norris:24 Jennings:24 Watts:24 Duran:24 Walters:24 Cohen:24 Mcdaniel:23 Moran:23 Parks:23
Steele:23 Vaughn:23 Becker:23 Holt:23 Deleon:23 Barker:23 Terry:23 Hale:23 Leon:23
Benson:22 Haynes:22 Horton:22 Miles:22 Lyons:22 Pham:22 Graves:22 Bush:22 Thornton:22 Wolfe:22
Warner:22 Cabrera:22 Mckinney:22 Mann:22 Zimmerman:21 Dawson:21 Lara:21 Fletcher:21 Page:21
Mccarthy:21 Love:21 Robles:21 Cervantes:21 Solis:21 Erickson:21 Reeves:21 Chang:21 Klein:21
Salinas:20 Fuentes:20 Baldwin:20 Daniel:20 Simon:20 Velasquez:20 Hardy:20 Higgins:20 Aguirre:20
Lin:20 Cummings:20 Chandler:20 Sharp:20 Barber:20 Bowen:20 Ochoa:20 Dennis:20 Robbins:19
Liu:19 Ramsey:19 Francis:19 Griffith:19 Paul:19 Blair:19 Oconnor:19 Cardenas:19 Pacheco:19
Cross:19 Calderon:19 Quinn:19 Moss:19 Swanson:19 Chan:19 Rivas:19 Khan:19 Rodgers:19 Serrano:19
Fitzgerald:19 Rosales:18 Stevenson:18 Christensen:18 Manning:18 Gill:18 Curry:18 Mclaughlin:18
Harmon:18 Mcgee:18 Gross:18 Doyle:18 Garner:18 Newton:18 Burgess:18 Reese:18 Walton:18 Blake:18
Trujillo:18 Adkins:18 Brady:18 Goodman:18 Roman:18 Webster:18 Goodwin:18 Fischer:18 Huang:18
Potter:18 Delacruz:17 Montoya:17 Todd:17 Wu:17 Hines:17 Mullins:17 Castaneda:17 Malone:17
Cannon:17 Tate:17 Mack:17 Sherman:17 Hubbard:17 Hodges:17 Zhang:17 Guerra:17 Wolf:17 Valencia:17
Saunders:17 Franco:17 Rowe:17 Gallagher:17 Farmer:17 Hammond:17 Hampton:17 Townsend:17 Ingram:17
Wise:16 Gallegos:16 Clarke:16 Barton:16 Schroeder:16 Maxwell:16 Waters:16 Logan:16 Camacho:16
Strickland:16 Norman:16 Person:16 Colon:16 Parsons:16 Frank:16 Harrington:16 Glover:16
Osborne:16 Buchanan:16 Casey:16 Floyd:16 Patton:16 Ibarra:16 Ball:16 Tyler:16 Suarez:16
Bowers:16 Orozco:16 Salas:16 Cobb:16 Gibbs:16 Andrade:16 Bauer:16 Conner:16 Moody:16 Escobar:16
Mcguire:16 Lloyd:16 Mueller:16 Hartman:15 French:15 Kramer:15 Mcbride:15 Pope:15 Lindsey:15
Velazquez:15 Norton:15 Mccormick:15 Sparks:15 Flynn:15 Yates:15 Hogan:15 Marsh:15 Macias:15
Villanueva:15 Zamora:15 Pratt:15 Stokes:15 Owen:15 Ballard:15 Lang:15 Brock:15 Villarreal:15
Charles:15 Drake:15 Barrera:15 Cain:15 Patrick:15 Pineda:15 Burnett:15 Mercado:15 Santana:15
Shepherd:15 Bautista:15 Ali:15 Shaffer:15 Lamb:15 Trevino:15 Mckenzie:15 Hess:15
Olsen:15 Cochran:15 Morton:15 Nash:15 Wilkins:15 Petersen:15 Briggs:15 Shah:15 Roth:15
Nicholson:14 Holloway:14 Lozano:14 Rangel:14 Flowers:14 Hoover:14 Short:14 Arias:14 Mora:14
Valenzuela:14 Bryan:14 Meyers:14 Weiss:14 Underwood:14 Bass:14 Greer:14 Summers:14 Houston:14
Carson:14 Morrow:14 Clayton:14 Whitaker:14 Decker:14 Yoder:14 Collier:14 Zuniga:14 Carey:14
Wilcox:14 Melendez:14 Poole:14 Roberson:14 Larsen:14 Conley:14 Davenport:14 Copeland:14
Massey:14 Lam:14 Huff:14 Rocha:14 Cameron:14 Jefferson:14 Hood:14 Monroe:14 Anthony:14
Pittman:14 Huynh:14 Randall:14 Singleton:14 Kirk:14 Combs:14 Mathis:14 Christian:14 Skinner:14
Bradford:14 Richard:14 Galvan:14 Wall:14 Boone:14 Kirby:14 Wilkinson:14 Bridges:14 Bruce:14
Atkinson:14 Velez:14 Meza:14 Roy:14 Vincent:14 York:14 Hodge:13 Villa:13 Abbott:13 Allison:13
Tapia:13 Gates:13 Chase:13 Sosa:13 Sweeney:13 Farrell:13 Wyatt:13 Dalton:13 Horn:13 Barron:13
Phelps:13 Yu:13 Dickerson:13 Heath:13 Foley:13 Atkins:13 Mathews:13 Bonilla:13 Acevedo:13
Benitez:13 Zavala:13 Hensley:13 Glenn:13 Cisneros:13 Harrell:13 Shields:13 Rubio:13
Choi:13 Huffman:13 Boyer:13 Garrison:13 Arroyo:13 Bond:13 Kane:13 Hancock:13 Callahan:13
Dillon:13 Cline:13 Wiggins:13 Grimes:13 Arellano:13 Melton:13 Oneill:13 Savage:13 Ho:13
Beltran:13 Pitts:13 Parrish:13 Ponce:13 Rich:13 Booth:13 Koch:13 Golden:13 Ware:13 Brennan:13
Mcdowell:13 Marks:13 Cantu:13 Humphrey:13 Baxter:13 Sawyer:13 Clay:13 Tanner:13 Hutchinson:13
Kaur:13 Berg:13 Wiley:13 Gilmore:13 Russo:13 Villegas:13 Hobbs:13 Keith:13 Wilkerson:13
Ahmed:13 Beard:13 Mcclain:13 Montes:13 Mata:13 Rosario:13 Vang:13 Walter:13 Henson:13
Oneal:13 Mosley:13 Mcclure:13 Beasley:13 Stephenson:13 Snow:13 Huerta:13 Preston:13
Vance:13 Barry:13 Johns:13 Eaton:13 Blackwell:13 Dyer:13 Prince:13 Macdonald:13 Solomon:13
Guevara:13 Stafford:13 English:13 Hurst:13 Woodard:13 Cortes:13 Shannon:13 Kemp:13 Nolan:13
"""

# Census 2010 strips accents and punctuation; records at a clinic keep them. generate.py uses
# these spellings for a share of the people with the plain surname.
ACCENTED_SURNAMES = {
    "Garcia": "García", "Rodriguez": "Rodríguez", "Martinez": "Martínez", "Hernandez": "Hernández",
    "Lopez": "López", "Gonzalez": "González", "Perez": "Pérez", "Sanchez": "Sánchez",
    "Ramirez": "Ramírez", "Gomez": "Gómez", "Diaz": "Díaz", "Gutierrez": "Gutiérrez",
    "Alvarez": "Álvarez", "Jimenez": "Jiménez", "Vasquez": "Vásquez", "Fernandez": "Fernández",
    "Mendez": "Méndez", "Munoz": "Muñoz", "Pena": "Peña", "Nunez": "Núñez", "Dominguez": "Domínguez",
    "Marquez": "Márquez", "Juarez": "Juárez", "Velasquez": "Velásquez", "Calderon": "Calderón",
    "Suarez": "Suárez", "Velazquez": "Velázquez", "Benitez": "Benítez",
    "Castaneda": "Castañeda", "Zuniga": "Zúñiga", "Galvan": "Galván", "Velez": "Vélez",
    "Chavez": "Chávez", "Vazquez": "Vázquez", "Rios": "Ríos", "Colon": "Colón",
    "Trevino": "Treviño", "Melendez": "Meléndez", "Cortes": "Cortés", "Beltran": "Beltrán",
    "Muller": "Müller", "Mueller": "Müller", "Schroeder": "Schröder",
    "Obrien": "O'Brien", "Oconnor": "O'Connor", "Oneill": "O'Neill", "Oneal": "O'Neal",
    "Mcdonald": "McDonald", "Mccoy": "McCoy", "Mcdaniel": "McDaniel", "Mckinney": "McKinney",
    "Mccarthy": "McCarthy", "Mclaughlin": "McLaughlin", "Mcgee": "McGee", "Mcguire": "McGuire",
    "Mcbride": "McBride", "Mccormick": "McCormick", "Mckenzie": "McKenzie", "Mcdowell": "McDowell",
    "Mcclain": "McClain", "Mcclure": "McClure", "Macdonald": "MacDonald", "Delacruz": "De La Cruz",
    "Deleon": "De León",
}
# These are always written with their punctuation or capitals (the Census form is an artefact).
ALWAYS_RESPELLED = {
    "Obrien", "Oconnor", "Oneill", "Oneal", "Mcdonald", "Mccoy", "Mcdaniel", "Mckinney", "Mccarthy",
    "Mclaughlin", "Mcgee", "Mcguire", "Mcbride", "Mccormick", "Mckenzie", "Mcdowell", "Mcclain",
    "Mcclure", "Macdonald",
}
HISPANIC_SURNAMES = {
    "Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Perez", "Sanchez",
    "Ramirez", "Torres", "Flores", "Rivera", "Gomez", "Diaz", "Cruz", "Reyes", "Morales", "Gutierrez",
    "Ortiz", "Ramos", "Chavez", "Mendoza", "Ruiz", "Alvarez", "Castillo", "Jimenez", "Vasquez",
    "Moreno", "Herrera", "Medina", "Aguilar", "Castro", "Fernandez", "Vargas", "Guzman", "Mendez",
    "Munoz", "Salazar", "Garza", "Soto", "Vazquez", "Alvarado", "Delgado", "Pena", "Contreras",
    "Sandoval", "Guerrero", "Rios", "Estrada", "Ortega", "Nunez", "Valdez", "Santiago", "Maldonado",
    "Dominguez", "Vega", "Espinoza", "Rojas", "Marquez", "Padilla", "Luna", "Mejia", "Juarez",
    "Cortez", "Navarro", "Figueroa", "Avila", "Molina", "Campos", "Miranda", "Ayala", "Carrillo",
    "Duran", "Leon", "Cabrera", "Lara", "Robles", "Cervantes", "Solis", "Salinas", "Fuentes",
    "Velasquez", "Aguirre", "Ochoa", "Cardenas", "Pacheco", "Calderon", "Rivas", "Serrano",
    "Rosales", "Trujillo", "Montoya", "Delacruz", "Castaneda", "Guerra", "Valencia", "Franco",
    "Gallegos", "Camacho", "Colon", "Ibarra", "Suarez", "Orozco", "Salas", "Andrade", "Escobar",
    "Velazquez", "Macias", "Villanueva", "Zamora", "Villarreal", "Barrera", "Pineda", "Mercado",
    "Santana", "Bautista", "Trevino", "Lozano", "Rangel", "Arias", "Mora", "Valenzuela", "Zuniga",
    "Melendez", "Rocha", "Galvan", "Velez", "Meza", "Villa", "Tapia", "Sosa", "Barron", "Bonilla",
    "Acevedo", "Benitez", "Zavala", "Cisneros", "Rubio", "Arroyo", "Arellano", "Beltran", "Ponce",
    "Cantu", "Villegas", "Montes", "Mata", "Rosario", "Huerta", "Guevara", "Cortes", "Deleon",
}

# name:then/now, approximate births per year in thousands (SSA), "then" ~2004-2012, "now" ~2013-2025.
BOYS = """
Liam:4/19 Noah:15/18 Oliver:2.5/14 James:14/13 Elijah:13/13 William:18/13 Henry:5/11 Lucas:8/11
Benjamin:13/12 Theodore:.6/9 Mateo:.7/9 Levi:2.5/9 Sebastian:5/9 Jack:9/9 Michael:21/10
Alexander:18/10 Daniel:19/10 Jacob:22/9 Logan:14/10 Ethan:20/10 Jackson:11/10 Owen:7/9
Samuel:12.5/9 Asher:.9/8 Aiden:15/8 Joseph:16/8 Wyatt:6.5/8 John:13.5/8 David:15.5/8
Leo:.8/8 Luke:9.4/8 Ezra:.5/7 Grayson:1/8 Julian:6.8/7 Hudson:1.1/7 Gabriel:13/8
Matthew:17/8 Isaac:10.5/7 Jayden:17/6 Carter:6.3/8 Lincoln:.8/7 Josiah:3.6/6 Anthony:18/7
Mason:11/9 Andrew:16.4/6 Thomas:7.7/6 Maverick:.2/6 Joshua:19/6 Christopher:17/5 Nathan:13.6/6
Jaxon:1.5/6 Isaiah:9.5/6 Caleb:11/6 Christian:13/5 Hunter:7.6/5 Eli:3.4/6 Ryan:14.5/6
Adrian:7.3/5 Jonathan:12.7/4 Nolan:2/5 Easton:.5/5 Dylan:11.5/5 Jeremiah:5.9/5 Landon:9.2/5
Cameron:7.6/4 Jordan:8.4/4 Angel:10.6/4 Colton:3.5/4 Roman:.9/5 Axel:.6/5 Brooks:.2/5
Everett:.4/5 Jace:1.1/5 Kai:.8/5 Miles:1.3/5 Santiago:1.2/5 Jose:9.6/4 Luca:.5/5 Silas:.5/5
Dominic:3.7/4 Xavier:5.7/4 Elias:1.4/5 Ezekiel:.7/4 Cooper:3.8/4 Parker:3.2/4 Carson:3.9/4
Austin:7.4/3 Evan:10.2/3 Jason:6.9/3 Connor:7.2/3 Tyler:12.6/2 Brandon:11.3/2 Kevin:9.7/3
Justin:8.8/2 Zachary:8.5/2 Aaron:8.1/3 Robert:8.2/3 Charles:6.6/4 Ian:4.7/3 Adam:5.6/3
Chase:6/3 Juan:6.2/2.5 Luis:6.5/2.5 Carlos:5.5/2.3 Diego:5.9/2.5 Jesus:4.8/2.3 Miguel:3.3/2.4
Bryson:1.1/3 Kayden:1.5/3 Brayden:8/2.5 Gavin:11.6/2.5 Hayden:5.1/2 Tristan:4.6/2 Brody:5.8/2
Bentley:.5/3 Declan:.5/3.5 Rowan:.5/3.5 Micah:2.2/3.5 Weston:.5/3.5 Waylon:.2/4 Emmett:.5/3.5
Greyson:.3/3 Jameson:.5/3.5 Beau:.3/3.5 Theo:.2/4 Atlas:.1/2.5 Jasper:.5/3 Finn:.5/3 Zion:.7/3
Knox:.1/3 Archer:.2/3 Milo:.3/3 Kingston:.7/3 King:.3/3 Judah:.4/3 Amir:.5/2.5 Muhammad:.6/2.5
Omar:1.6/1.5 Ali:.6/1.2 Ahmed:.5/.8 Max:2.1/2.5 Vincent:2.3/2.5 Cole:4.3/2.5 Blake:3.9/2
Jake:2.6/1 Kyle:3.5/1 Eric:4.2/1.2 Brian:4.1/1 Sean:4.4/1.2 Patrick:2.1/1.4 Steven:3.1/1
Timothy:2.9/1.2 Richard:2.9/1.2 Kenneth:1.8/.8 Devin:2.8/.7 Cody:2.2/.5 Seth:2/.8 Marcus:2.1/1
Malachi:1.3/3 Preston:2.2/1.5 Brantley:.1/2.5 Abel:.4/1.5 Emiliano:.5/2.5 Leonardo:1.2/3.5
Giovanni:1.8/1.5 Alejandro:3/2 Antonio:3.2/1.8 Emmanuel:1.6/1.5 Kaden:3.4/1.2 Damian:1.9/2.5
Ryder:.9/2.5 Camden:.9/2.5 Bryce:2.4/1.2 Jeremy:2/1 Alex:4.3/1 Mark:1.8/.8 Jaden:4/1 Riley:3/1
Gage:1.7/.5 Tanner:1.3/.6 Trevor:1.6/.4 Garrett:1.3/.6 Spencer:1/.7 Wesley:1/1.5 Harrison:.8/1.8
Maxwell:1.9/1.5 Ivan:1.9/1.2 Oscar:2.3/1.5 Victor:2.7/1.3 Eduardo:1.7/.9 Fernando:1.3/.8
Francisco:1.2/.7 Javier:1.3/.8 Cesar:1.3/.6 Manuel:1/.8 Mario:1/.6 Jorge:1.8/.7 Ricardo:1.5/.6
Andres:1.4/1 Adriel:.3/1.5 Gael:.5/2 Matias:.3/2 Joaquin:.6/1.4 Nicolas:1.5/1.5 Ruben:.6/.6
Hector:1.1/.5 Efrain:.3/.2 Noe:.3/.3 Ramon:.4/.3 Tomas:.2/.3 Elliot:.5/2 Arthur:.4/1.8
August:.2/1.5 Legend:.1/1.5 Jude:.8/2.5 River:.3/2 Sawyer:.8/2 Paul:1.4/1 George:1.5/1.4
Edward:1.6/1 Peter:1.1/.6 Stephen:1/.5 Grant:1.7/.6 Colin:2.5/.9 Derek:1.4/.4 Travis:1.1/.3
Shane:1.2/.3 Caden:3.6/.8 Cayden:1.2/.5 Aidan:7/1.5 Braxton:.9/2 Jaxson:.6/3 Nathaniel:5/2
Jonah:1.8/2 Calvin:.8/1.5 Xander:.6/1 Dallas:.5/.5 Travis:1.1/.3 Dakota:.8/.2 Darius:.5/.3
Tucker:.7/1 Brady:3.6/1 Trenton:1/.2 Jayce:.3/2 Zayden:.1/1.5 Ayden:3.8/1.2 Messiah:.2/1.2
"""

GIRLS = """
Olivia:16/17 Emma:17/16 Charlotte:2.5/13 Amelia:1.2/12 Sophia:17/11 Ava:16/10 Isabella:21/9
Mia:8.5/10 Evelyn:3/9 Harper:.5/8 Luna:.4/7 Camila:1.5/7 Gianna:1.2/6 Elizabeth:10/6
Eleanor:.9/6 Ella:10/6 Abigail:15/6 Sofia:5/6 Avery:6.5/6 Scarlett:1.2/6 Emily:19/5
Aria:.8/6 Penelope:.4/5 Chloe:10.5/5 Layla:3.5/5 Mila:.5/6 Nora:.8/5 Hazel:.6/5 Madison:18/4
Ellie:1.5/5 Lily:7/5 Nova:.2/5 Isla:.2/4 Grace:7/5 Violet:.6/5 Aurora:.6/5 Riley:3.5/5
Zoey:3/5 Willow:.5/4 Emilia:.4/4 Stella:1.5/4 Zoe:5/3.5 Victoria:6.5/3 Hannah:12/3 Addison:7/3
Leah:4.5/4 Lucy:1.5/4 Eliana:.6/4 Ivy:.6/4 Everly:.1/4 Lillian:5.5/3 Paisley:.3/4 Elena:1.2/3
Naomi:2.5/3 Maya:4.5/3 Natalie:9/3 Kinsley:.3/3 Delilah:.5/3 Claire:3/3 Audrey:3/3 Aaliyah:5/3
Ruby:1.3/3 Brooklyn:5/3 Alice:.5/3 Aubrey:3.5/3 Autumn:2/3 Leilani:.6/3 Savannah:6/3
Valentina:.5/3.5 Kennedy:1.5/3 Madelyn:3.5/3 Josephine:.5/3 Bella:2/3 Skylar:3/2.5 Genesis:2.5/2.5
Sophie:2.5/2.5 Hailey:6/2.5 Sadie:1/3 Natalia:2/3 Quinn:.8/3 Caroline:2.5/3 Allison:6/2.5
Gabriella:4/2 Anna:7/3 Serenity:2/2.5 Nevaeh:4.5/2 Cora:.4/3 Ariana:4.5/2 Emery:.5/3
Lydia:1.2/3 Jade:1.5/2.5 Sarah:9/2.5 Eva:2/3 Adeline:.4/3 Madeline:4/2.5 Piper:1/2.5
Rylee:2.5/2 Athena:.2/3 Peyton:4/2 Everleigh:.1/3 Vivian:.8/3 Clara:.8/3 Raelynn:.1/2
Liliana:1.5/2 Samantha:11/2 Maria:2.5/2 Iris:.4/2.5 Ayla:.2/2.5 Eloise:.1/2.5 Lyla:1.2/2
Eliza:.6/2 Hadley:.4/2.5 Melody:.8/2 Julia:5/2 Parker:.4/2.5 Rose:.3/2 Isabelle:2.5/2
Brielle:.6/2 Adalynn:.2/2 Arya:.2/2 Lucia:.5/2.5 Mackenzie:5/1.5 Kylie:5.5/1.5 Kaylee:5.5/1.5
Alexa:3/1.8 Mary:2.5/2 Margaret:1/2 Ximena:1/2 Alexandra:6/1.5 Jasmine:5/1.5 Charlie:.2/2.5
Amaya:1.5/2 Taylor:6/1 Isabel:3/2 Ashley:10/1.5 Khloe:1.5/1.5 Valeria:1.5/2 Andrea:3/1.5
Cecilia:.5/2 Remi:.1/2 Josie:.8/2 Reese:1.5/1.5 Bailey:3/1 Daisy:1.5/1.5 Molly:1.5/1.5
Esther:.4/1.5 Genevieve:.5/2 Harmony:.8/1.5 Annabelle:1.2/1.5 Alyssa:10/1.5 Ariel:1.5/.8
Juliana:2/1.5 Morgan:5/1 Summer:1.5/1 Trinity:5/1 Sienna:.5/1.5 Alaina:.8/1.5 Nicole:5/1
Jessica:6.5/.8 Kimberly:4/.8 Destiny:5/1 Jennifer:4.5/.7 Makayla:6/1 Alexis:9/1 Lauren:7/1.2
Kayla:8.5/1 Megan:5/.6 Rachel:4/.8 Jocelyn:2.5/1 Mariah:2.5/.8 Vanessa:3/.8 Daniela:2.5/1.2
Sydney:5.5/1 Gabrielle:3/.7 Katelyn:3.5/.6 Brooke:4/1 Paige:3/.7 Kaitlyn:5/.6 Haley:5/.6
Jenna:2/.5 Faith:4/1.5 Katherine:4/1.8 Mckenzie:3/1 Brianna:7/1 Arianna:3/2 Melanie:3/2
Amara:.2/2 Londyn:.3/1.5 Eden:.6/2 Norah:.3/2 Emersyn:.1/1.5 Valerie:2/1.2 Anastasia:.5/1.5
Elliana:.2/2 Jordyn:3/.8 Callie:1.2/1.2 Juliette:.5/2 Blakely:.1/1.5 Aliyah:1.5/1.2 Ayla:.2/2.5
Destiny:5/1 Angelina:3/1 Kate:1/1.5 Gracie:2/1.5 Miriam:.5/1 Dahlia:.1/1.5 Oaklynn:.05/1.2
Fatima:.8/1.2 Aisha:.4/.5 Sara:3/1.5 Leila:1/1.5 Mya:2.5/1 Angela:1.5/.5 Diana:1.5/.7
Michelle:2/.5 Stephanie:2.5/.4 Jacqueline:2/.5 Alondra:1.5/.5 Guadalupe:1/.5 Yaretzi:.3/.8
Renata:.2/1 Regina:.5/.8 Fernanda:.7/.6 Camille:.8/1 Chelsea:2/.3 Amber:2.5/.4
"""

# Spellings with accents, for a share of the people with the plain name (never all of them).
ACCENTED_GIVEN = {
    "Sofia": "Sofía", "Zoe": "Zoë", "Chloe": "Chloé", "Maria": "María", "Lucia": "Lucía",
    "Mia": "Mía", "Renee": "Renée", "Jose": "José", "Jesus": "Jesús",
    "Andres": "Andrés", "Matias": "Matías", "Sebastian": "Sebastián", "Angel": "Ángel",
    "Ramon": "Ramón", "Joaquin": "Joaquín", "Nicolas": "Nicolás", "Adrian": "Adrián",
    "Julian": "Julián", "Ruben": "Rubén", "Tomas": "Tomás", "Hector": "Héctor", "Cesar": "César",
    "Efrain": "Efraín", "Noe": "Noé", "Ivan": "Iván", "Oscar": "Óscar",
    "Elias": "Elías", "Josue": "Josué", "Ines": "Inés", "Raul": "Raúl",
    "Genesis": "Génesis", "Aimee": "Aimée", "Noemi": "Noemí", "Eloise": "Éloïse",
}

# Hyphenated and two-word given names (a small share of births).
COMPOUND_GIVEN_GIRLS = ["Mary-Kate", "Anne-Marie", "Mary Grace", "Ella-Rose", "Lily-Mae", "Ana Sofía",
                        "María José", "Emma-Lee", "Mia-Rose", "Ava Grace"]
COMPOUND_GIVEN_BOYS = ["Jean-Luc", "John-Paul", "Juan Carlos", "José Luis", "Jean-Pierre", "Juan Pablo",
                       "Luis Ángel", "Miguel Ángel", "John Michael", "Ty-Reese"]


def parse_surnames() -> list[tuple[str, float]]:
    return [(name, float(weight)) for name, weight in (item.split(":") for item in SURNAMES.split())]


def parse_given(table: str) -> list[tuple[str, float, float]]:
    """(name, weight then, weight now); repeated names (a slip in the table) are merged."""
    merged: dict[str, tuple[float, float]] = {}
    for item in table.split():
        name, weights = item.split(":")
        then, now = (float(w) for w in weights.split("/"))
        merged.setdefault(name, (then, now))
    return [(name, then, now) for name, (then, now) in merged.items()]
