set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set output 'step_attribution.svg'
set title "Shapley shares of the emulated error (MSE), attributed decode steps"
set ylabel "share of MSE"
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set xtics rotate by 90 right
set bmargin 22
set key autotitle columnhead outside right top
plot 'step_attribution.dat' using 2:xtic(1), \
     'step_attribution.dat' using 3, \
     'step_attribution.dat' using 4, \
     'step_attribution.dat' using 5, \
     'step_attribution.dat' using 6
