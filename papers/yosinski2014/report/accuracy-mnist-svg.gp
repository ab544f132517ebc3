set terminal svg size 1000,650 dynamic
set output 'accuracy-mnist.svg'
set title 'MNIST halves: accuracy on B after copying the first n layers (mean and sd over seeds)' noenhanced
set xlabel 'n: layers copied (frozen, or fine-tuned: +)'
set ylabel 'test accuracy on B (%)'
set xrange [-0.4:4.4]
set xtics 0,1,4
set grid
set key bottom left noenhanced
plot 'accuracy-mnist.dat' using ($1-0.09):2:3 with yerrorlines lw 2 dt 2 lc rgb '#1f77b4' pt 7 ps 1.3 title 'BnB (frozen)', \
     'accuracy-mnist.dat' using ($1-0.03):4:5 with yerrorlines lw 2 lc rgb '#1f77b4' pt 6 ps 1.3 title 'BnB+ (fine-tuned)', \
     'accuracy-mnist.dat' using ($1+0.03):6:7 with yerrorlines lw 2 dt 2 lc rgb '#d62728' pt 5 ps 1.3 title 'AnB (frozen)', \
     'accuracy-mnist.dat' using ($1+0.09):8:9 with yerrorlines lw 2 lc rgb '#d62728' pt 4 ps 1.3 title 'AnB+ (fine-tuned)', \
     '-' using 1:2:3 with yerrorbars lc rgb 'black' pt 7 ps 1.6 lw 2 title 'base B', \
     97.3000 with lines dt 3 lc rgb 'black' notitle
0 97.3000 0.3843
e
