set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'
set grid lc rgb '#dddddd'
set key outside below
set output 'step_ulp_diff.svg'
set title "Incremental decode vs full-sequence kernel, per step"
set xlabel "decode step (row P + step)"
set ylabel "max |incremental - full| (ULPs of the row scale; 0 plotted as 0.01)"
set logscale y
set format y '10^{%L}'
plot 'step_ulp_diff.dat' index 0 using 1:2 with linespoints title "emu.fa2.fp16.m64n64.split4", \
     'step_ulp_diff.dat' index 1 using 1:2 with linespoints title "emu.mutant.stale-seqlens.fp16", \
     'step_ulp_diff.dat' index 2 using 1:2 with linespoints title "emu.mutant.interleaved-gqa-cache.fp16", \
     'step_ulp_diff.dat' index 3 using 1:2 with linespoints title "emu.mutant.top-left-cache.fp16", \
     'step_ulp_diff.dat' index 4 using 1:2 with linespoints title "emu.mutant.base2-lse-combine.fp16"
