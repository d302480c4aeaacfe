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
plot 'excess_vs_seqlen.dat' index 0 using 1:2 with linespoints title 'fa2.fp16.d64.m128n128' noenhanced, \
     'excess_vs_seqlen.dat' index 1 using 1:2 with linespoints title 'decode.fp16.d64.m64n64.split' noenhanced, \
     'excess_vs_seqlen.dat' index 2 using 1:2 with linespoints title 'sdpa.flash' noenhanced, \
     'excess_vs_seqlen.dat' index 3 using 1:2 with linespoints title 'sdpa.cudnn' noenhanced, \
     'excess_vs_seqlen.dat' index 4 using 1:2 with linespoints title 'sdpa.efficient' noenhanced, \
     'excess_vs_seqlen.dat' index 5 using 1:2 with linespoints title 'sdpa.math' noenhanced, \
     'excess_vs_seqlen.dat' index 6 using 1:2 with linespoints title 'sdpa.flash.is-causal' noenhanced, \
     'excess_vs_seqlen.dat' index 7 using 1:2 with linespoints title 'sdpa.cudnn.is-causal' noenhanced, \
     'excess_vs_seqlen.dat' index 8 using 1:2 with linespoints title 'sdpa.efficient.is-causal' noenhanced, \
     'excess_vs_seqlen.dat' index 9 using 1:2 with linespoints title 'sdpa.math.is-causal' noenhanced, \
     'excess_vs_seqlen.dat' index 10 using 1:2 with linespoints title 'sdpa.flash.repeat-kv' noenhanced, \
     'excess_vs_seqlen.dat' index 11 using 1:2 with linespoints title 'sdpa.efficient.repeat-kv' noenhanced, \
     'excess_vs_seqlen.dat' index 12 using 1:2 with linespoints title 'flex' noenhanced, \
     'excess_vs_seqlen.dat' index 13 using 1:2 with linespoints title 'naive-fp16' noenhanced, \
     'excess_vs_seqlen.dat' index 14 using 1:2 with linespoints title 'fa2.bf16.d64.m128n128' noenhanced, \
     'excess_vs_seqlen.dat' index 15 using 1:2 with linespoints title 'decode.bf16.d64.m64n64.split' noenhanced, \
     'excess_vs_seqlen.dat' index 16 using 1:2 with linespoints title 'naive-bf16' noenhanced
