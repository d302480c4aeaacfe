set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set output 'max_abs_vs_gqa.svg'
set title 'max_abs vs GQA ratio H_q/H_kv' noenhanced
set xlabel 'GQA ratio H_q/H_kv' noenhanced
set ylabel 'max_abs' noenhanced
set logscale x 2
set logscale y
set format y '10^{%L}'
plot 'max_abs_vs_gqa.dat' index 0 using 1:2 with linespoints title 'emu.fp16.dany.m64n64' noenhanced, \
     'max_abs_vs_gqa.dat' index 1 using 1:2 with linespoints title 'emu.fp16.dany.m64n64.precise' noenhanced, \
     'max_abs_vs_gqa.dat' index 2 using 1:2 with linespoints title 'emu.fp16.dany.m64n64.split4' noenhanced, \
     'max_abs_vs_gqa.dat' index 3 using 1:2 with linespoints title 'naive-fp16' noenhanced, \
     'max_abs_vs_gqa.dat' index 4 using 1:2 with linespoints title 'emu.bf16.dany.m64n64' noenhanced, \
     'max_abs_vs_gqa.dat' index 5 using 1:2 with linespoints title 'emu.bf16.dany.m64n64.precise' noenhanced, \
     'max_abs_vs_gqa.dat' index 6 using 1:2 with linespoints title 'emu.bf16.dany.m64n64.split4' noenhanced, \
     'max_abs_vs_gqa.dat' index 7 using 1:2 with linespoints title 'naive-bf16' noenhanced
