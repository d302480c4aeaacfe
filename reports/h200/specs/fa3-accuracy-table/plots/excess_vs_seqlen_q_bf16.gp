set terminal svg size 900,580 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set linetype 1 lc rgb '#000000' pt 7 ps 0.9 lw 2
set linetype 2 lc rgb '#E69F00' pt 5 ps 0.9 lw 2
set linetype 3 lc rgb '#56B4E9' pt 9 ps 1.1 lw 2
set linetype 4 lc rgb '#009E73' pt 11 ps 1.1 lw 2
set linetype 5 lc rgb '#0072B2' pt 13 ps 1.0 lw 2
set linetype 6 lc rgb '#D55E00' pt 4 ps 0.9 lw 2
set linetype 7 lc rgb '#CC79A7' pt 6 ps 0.9 lw 2
set linetype 8 lc rgb '#999933' pt 8 ps 1.0 lw 2
set linetype cycle 8
set output 'excess_vs_seqlen_q_bf16.svg'
set title 'Excess vs S_q, bf16: worst (max) over head dim' noenhanced
set xlabel 'S_q (every value its own tick)' noenhanced
set ylabel 'excess = RMSE / rounding-floor RMSE (1 = perfect)' noenhanced
set logscale y
set format y '%g'
set ytics (1, 1.5, 2, 3, 5, 7)
set yrange [0.8:6.02779]
set xtics ('512' 0, '1024' 1, '2048' 2, '4096' 3) noenhanced
set xrange [-0.5:3.5]
set arrow from 0, graph 0 to 0, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 2, graph 0 to 2, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 3, graph 0 to 3, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 lc rgb '#bbbbbb'
plot 'excess_vs_seqlen_q_bf16.dat' index 0 using 1:2 with linespoints lt 1 title 'naive-bf16' noenhanced, \
     'excess_vs_seqlen_q_bf16.dat' index 1 using 1:2 with linespoints lt 2 title 'sdpa.flash' noenhanced, \
     'excess_vs_seqlen_q_bf16.dat' index 2 using 1:2 with linespoints lt 3 title 'sdpa.cudnn' noenhanced, \
     'excess_vs_seqlen_q_bf16.dat' index 3 using 1:2 with linespoints lt 4 title 'sdpa.efficient' noenhanced, \
     'excess_vs_seqlen_q_bf16.dat' index 4 using 1:2 with linespoints lt 5 title 'sdpa.math' noenhanced, \
     'excess_vs_seqlen_q_bf16.dat' index 5 using 1:2 with linespoints lt 6 title 'fa2.bf16.d64.m128n128' noenhanced, \
     'excess_vs_seqlen_q_bf16.dat' index 6 using 1:2 with linespoints lt 7 title 'fa2.bf16.d64.m128n128.precise' noenhanced, \
     'excess_vs_seqlen_q_bf16.dat' index 7 using 1:2 with linespoints lt 8 title 'fa2.bf16.d128.m64n64' noenhanced, \
     NaN with lines dt 2 lw 1 lc rgb '#888888' title 'S_q a multiple of BLOCK_M = 64' noenhanced
