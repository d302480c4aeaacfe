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
set output 'excess_vs_seqlen_q_fp16.svg'
set title 'Excess vs S_q, fp16: one point per value' noenhanced
set xlabel 'S_q (every value its own tick)' noenhanced
set ylabel 'excess = RMSE / rounding-floor RMSE (1 = perfect)' noenhanced
set logscale y
set format y '%g'
set ytics (1, 1.5, 2, 2.5, 3)
set yrange [0.8:3.04435]
set xtics ('1' 0, '2' 1, '7' 2, '16' 3, '63' 4, '64' 5, '65' 6, '127' 7, '128' 8, '129' 9, '256' 10, '512' 11, '1024' 12, '2048' 13, '4096' 14, '8192' 15, '16384' 16, '32768' 17) noenhanced rotate by 45 right
set xrange [-0.5:17.5]
set arrow from 8, graph 0 to 8, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 10, graph 0 to 10, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 11, graph 0 to 11, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 12, graph 0 to 12, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 13, graph 0 to 13, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 14, graph 0 to 14, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 15, graph 0 to 15, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 16, graph 0 to 16, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from 17, graph 0 to 17, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 lc rgb '#bbbbbb'
plot 'excess_vs_seqlen_q_fp16.dat' index 0 using 1:2 with linespoints lt 1 title 'naive-fp16' noenhanced, \
     'excess_vs_seqlen_q_fp16.dat' index 1 using 1:2 with linespoints lt 2 title 'fa2.fp16.d64.m128n128' noenhanced, \
     'excess_vs_seqlen_q_fp16.dat' index 2 using 1:2 with linespoints lt 3 title 'fa2.fp16.d64.m128n128.precise' noenhanced, \
     'excess_vs_seqlen_q_fp16.dat' index 3 using 1:2 with linespoints lt 4 title 'fa3.fp16.d64.m128n128' noenhanced, \
     NaN with lines dt 2 lw 1 lc rgb '#888888' title 'S_q a multiple of BLOCK_M = 128' noenhanced
