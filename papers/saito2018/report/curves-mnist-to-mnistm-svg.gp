set terminal svg size 800,500
set output '/work/main/papers/saito2018/report/curves-mnist-to-mnistm.svg'
set title 'mnist->mnistm: target-test accuracy per epoch (mean over seeds)' noenhanced
set xlabel 'epoch'
set ylabel 'accuracy (%)'
set key outside right top noenhanced
set grid
plot for [i=2:4] '/work/main/papers/saito2018/report/curves-mnist-to-mnistm.dat' using 1:i with linespoints title columnheader(i)
