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
set output 'ulp_histogram_bf16.svg'
set title 'Element-ULP error histogram, bf16: elements of every point summed, % per kernel' noenhanced
set ylabel '% of the output elements' noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.75
set xtics noenhanced
set key autotitle columnhead outside below noenhanced
set yrange [0:*]
plot 'ulp_histogram_bf16.dat' using 2:xtic(1) lt 1, \
     'ulp_histogram_bf16.dat' using 3 lt 2, \
     'ulp_histogram_bf16.dat' using 4 lt 3, \
     'ulp_histogram_bf16.dat' using 5 lt 4, \
     'ulp_histogram_bf16.dat' using 6 lt 5, \
     'ulp_histogram_bf16.dat' using 7 lt 6, \
     'ulp_histogram_bf16.dat' using 8 lt 7, \
     'ulp_histogram_bf16.dat' using 9 lt 8
