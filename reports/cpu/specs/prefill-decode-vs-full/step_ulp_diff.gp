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
set output 'step_ulp_diff.svg'
set title 'Incremental decode vs full-sequence kernel, per step' noenhanced
set xlabel 'decode step (row P + step)' noenhanced
set ylabel 'max |incremental - full| (ULPs of the row scale; 0 plotted as 0.01)' noenhanced
set logscale y
set format y '%g'
set ytics (1, 10, 100, 1000, 10000)
set yrange [0.4:29130]
plot 'step_ulp_diff.dat' index 0 using 1:2 with linespoints lt 1 title 'emu.fp16.dany.m64n64.decode-tc12-fixed256' noenhanced, \
     'step_ulp_diff.dat' index 1 using 1:2 with linespoints lt 2 title 'emu.fp16.dany.m64n64.decode-fixed64.mutant-stale-seqlens' noenhanced, \
     'step_ulp_diff.dat' index 2 using 1:2 with linespoints lt 3 title 'emu.fp16.dany.m64n64.decode-fixed64.mutant-interleaved-gqa-cache' noenhanced, \
     'step_ulp_diff.dat' index 3 using 1:2 with linespoints lt 4 title 'emu.fp16.dany.m64n64.decode-fixed64.mutant-top-left-cache' noenhanced, \
     'step_ulp_diff.dat' index 4 using 1:2 with linespoints lt 5 title 'emu.fp16.dany.m64n64.decode-fixed64.mutant-base2-lse-combine' noenhanced
