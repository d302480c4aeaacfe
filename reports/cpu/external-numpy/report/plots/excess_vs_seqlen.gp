set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set output 'excess_vs_seqlen.svg'
set title "excess over rounding floor vs S\\_q"
set xlabel "S\\_q"
set ylabel "excess over rounding floor"
set logscale x 2
set logscale y
set format y '10^{%L}'
plot 'excess_vs_seqlen.dat' index 0 using 1:2 with linespoints title "numpy.reference", \
     'excess_vs_seqlen.dat' index 1 using 1:2 with linespoints title "numpy.reference.bshd"
