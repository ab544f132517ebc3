set terminal svg size 900,500
set output '/work/main/papers/saito2018/report/accuracy.svg'
set title 'Target-test accuracy (mean and 95% interval over seeds; selection: last)'
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set ylabel 'accuracy (%)'
set yrange [0:100]
set key outside right top
set grid ytics
set xtics noenhanced
set key noenhanced
plot '/work/main/papers/saito2018/report/accuracy.dat' using 2:3:xtic(1) title columnheader(2), '/work/main/papers/saito2018/report/accuracy.dat' using 4:5 title columnheader(4), '/work/main/papers/saito2018/report/accuracy.dat' using 6:7 title columnheader(6)
