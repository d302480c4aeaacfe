set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set output 'attribution.svg'
set title 'Share of error (RMSE^2) by cause, mean over points' noenhanced
set ylabel 'share' noenhanced
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set xtics rotate by 90 right noenhanced
set bmargin 22
set key autotitle columnhead outside right top noenhanced
plot 'attribution.dat' using 2:xtic(1), \
     'attribution.dat' using 3, \
     'attribution.dat' using 4, \
     'attribution.dat' using 5, \
     'attribution.dat' using 6
