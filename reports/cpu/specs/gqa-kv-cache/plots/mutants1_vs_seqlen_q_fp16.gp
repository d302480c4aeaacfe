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
set output 'mutants1_vs_seqlen_q_fp16.svg'
set title 'Mutants error / bound vs S_q, fp16: worst (max) over cache depth and GQA ratio' noenhanced
set xlabel 'S_q (every value its own tick)' noenhanced
set ylabel 'error / FlashAttention bound' noenhanced
set logscale y
set format y '%g'
set ytics (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
set yrange [0.8:2065.66]
set xtics ('1' 0, '7' 1, '64' 2) noenhanced
set xrange [-0.5:2.5]
set arrow from 2, graph 0 to 2, graph 1 nohead dt 2 lw 1 lc rgb '#888888'
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 lc rgb '#bbbbbb'
plot 'mutants1_vs_seqlen_q_fp16.dat' index 0 using 1:2 with linespoints lt 1 title 'emu.fp16.dany.m64n64.mutant-interleaved-gqa-cache' noenhanced, \
     'mutants1_vs_seqlen_q_fp16.dat' index 1 using 1:2 with linespoints lt 2 title 'emu.fp16.dany.m64n64.decode-fixed64.mutant-interleaved-gqa-cache' noenhanced, \
     NaN with lines dt 2 lw 1 lc rgb '#888888' title 'S_q a multiple of BLOCK_M = 64' noenhanced
