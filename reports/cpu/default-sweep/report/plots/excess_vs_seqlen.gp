set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set output 'excess_vs_seqlen.svg'
set title 'excess over rounding floor vs S_q' noenhanced
set xlabel 'S_q' noenhanced
set ylabel 'excess over rounding floor' noenhanced
set logscale x 2
set logscale y
set format y '10^{%L}'
plot 'excess_vs_seqlen.dat' index 0 using 1:2 with linespoints title 'emu.fp16.dany.m64n64' noenhanced, \
     'excess_vs_seqlen.dat' index 1 using 1:2 with linespoints title 'emu.fp16.dany.m64n64.precise' noenhanced, \
     'excess_vs_seqlen.dat' index 2 using 1:2 with linespoints title 'emu.fp16.dany.m64n64.split4' noenhanced, \
     'excess_vs_seqlen.dat' index 3 using 1:2 with linespoints title 'naive-fp16' noenhanced, \
     'excess_vs_seqlen.dat' index 4 using 1:2 with linespoints title 'emu.bf16.dany.m64n64' noenhanced, \
     'excess_vs_seqlen.dat' index 5 using 1:2 with linespoints title 'emu.bf16.dany.m64n64.precise' noenhanced, \
     'excess_vs_seqlen.dat' index 6 using 1:2 with linespoints title 'emu.bf16.dany.m64n64.split4' noenhanced, \
     'excess_vs_seqlen.dat' index 7 using 1:2 with linespoints title 'naive-bf16' noenhanced
