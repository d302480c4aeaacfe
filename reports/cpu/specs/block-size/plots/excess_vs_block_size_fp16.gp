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
set output 'excess_vs_block_size_fp16.svg'
set title 'Excess vs block size, fp16: worst (max) over S_q and cache depth' noenhanced
set xlabel 'block size (every value its own tick)' noenhanced
set ylabel 'excess = RMSE / rounding-floor RMSE (1 = perfect)' noenhanced
set logscale y
set format y '%g'
set ytics (0.8, 1, 1.2, 1.4, 1.6)
set yrange [0.8:1.62818]
set xtics ('m16n16' 0, 'm16n16.split4' 1, 'm16n32' 2, 'm16n32.split4' 3, 'm16n64' 4, 'm16n64.split4' 5, 'm16n128' 6, 'm16n128.split4' 7, 'm64n16' 8, 'm64n16.split4' 9, 'm64n32' 10, 'm64n32.split4' 11, 'm64n64' 12, 'm64n64.split4' 13, 'm64n128' 14, 'm64n128.split4' 15, 'm128n16' 16, 'm128n16.split4' 17, 'm128n32' 18, 'm128n32.split4' 19, 'm128n64' 20, 'm128n64.split4' 21, 'm128n128' 22, 'm128n128.split4' 23) noenhanced rotate by 45 right
set xrange [-0.5:23.5]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 lc rgb '#bbbbbb'
plot 'excess_vs_block_size_fp16.dat' index 0 using 1:2 with linespoints lt 1 title 'emu.fp16.dany.m64n64' noenhanced
