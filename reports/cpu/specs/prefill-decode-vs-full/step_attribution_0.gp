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
set output 'step_attribution_0.svg'
set title 'Shapley shares of the emulated error (MSE) per decode step, correct decode' . "\n" . '(emu.fp16.dany.m64n64.decode-tc12-fixed256): each attributed step on its own, stacked to' . "\n" . '100%' noenhanced
set xlabel 'decode step' noenhanced
set ylabel '% of the step''s squared error (stacked)' noenhanced
plot [] [0:*] 'step_attribution_0.dat' index 4 using 1:2 with filledcurves x1 fs solid 0.85 lt 5 title 'semantic' noenhanced, \
     'step_attribution_0.dat' index 3 using 1:2 with filledcurves x1 fs solid 0.85 lt 4 title 'rescaling' noenhanced, \
     'step_attribution_0.dat' index 2 using 1:2 with filledcurves x1 fs solid 0.85 lt 3 title 'output rounding' noenhanced, \
     'step_attribution_0.dat' index 1 using 1:2 with filledcurves x1 fs solid 0.85 lt 2 title 'intermediate precision' noenhanced, \
     'step_attribution_0.dat' index 0 using 1:2 with filledcurves x1 fs solid 0.85 lt 1 title 'accumulation order' noenhanced
