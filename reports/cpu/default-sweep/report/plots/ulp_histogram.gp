set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set output 'ulp_histogram.svg'
set title 'ULP error histogram (fraction of elements)' noenhanced
set ylabel 'fraction' noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set xtics rotate by 90 right noenhanced
set bmargin 22
set key autotitle columnhead outside right top noenhanced
plot 'ulp_histogram.dat' using 2:xtic(1), \
     'ulp_histogram.dat' using 3, \
     'ulp_histogram.dat' using 4, \
     'ulp_histogram.dat' using 5, \
     'ulp_histogram.dat' using 6, \
     'ulp_histogram.dat' using 7, \
     'ulp_histogram.dat' using 8, \
     'ulp_histogram.dat' using 9, \
     'ulp_histogram.dat' using 10, \
     'ulp_histogram.dat' using 11, \
     'ulp_histogram.dat' using 12, \
     'ulp_histogram.dat' using 13, \
     'ulp_histogram.dat' using 14, \
     'ulp_histogram.dat' using 15, \
     'ulp_histogram.dat' using 16, \
     'ulp_histogram.dat' using 17, \
     'ulp_histogram.dat' using 18, \
     'ulp_histogram.dat' using 19, \
     'ulp_histogram.dat' using 20, \
     'ulp_histogram.dat' using 21, \
     'ulp_histogram.dat' using 22, \
     'ulp_histogram.dat' using 23
