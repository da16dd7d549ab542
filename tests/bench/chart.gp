# Bar chart of one group of a tests/bench/run.sh run; run.sh calls it as
#	gnuplot -e "datafile='out/G/chart.dat'; labelfile='out/G/chart-labels.gp'; \
#	    outfile='out/G/chart.png'" tests/bench/chart.gp
# chart.dat (from report.py), tab-separated: x, scenario, median req/s,
# min, max, colour (0xRRGGBB), value label, ratio label, error label.
# chart-labels.gp (from report.py) sets the title, the text box, the
# y range (headroom for the box) and, when the rates are far apart, a log
# scale.

set terminal pngcairo size 1400,800 font "DejaVu Sans,11" noenhanced
set output outfile
set datafile separator "\t"

set style fill solid 0.85 border rgb "#404040"
set boxwidth 0.7
set key off
set border 3
set xtics nomirror scale 0 rotate by -25 font ",11"
set ytics nomirror format "%.0s%c"
set grid ytics lc rgb "#d0d0d0"
set ylabel "requests/s (median)"
# Headroom for the labels and the ratio box.
stats datafile using 5 nooutput
set xrange [-0.6:STATS_records - 0.4]
set yrange [0:STATS_max * 1.35]   # chart-labels.gp overrides
set bmargin 7

load labelfile

dash(s) = s eq "-" ? "" : s

plot datafile using 1:3:6:xtic(2) with boxes lc rgb variable, \
     '' using 1:4:(0):($5 - $4) with vectors heads size 0.08,90 \
        lc rgb "#202020" lw 1.2, \
     '' using 1:5:7 with labels offset 0,0.9 font ",12" tc rgb "#000000", \
     '' using 1:5:(dash(stringcolumn(9))) with labels offset 0,2.0 \
        font ",10" tc rgb "#c00000", \
     '' using 1:5:(dash(stringcolumn(8))) with labels offset 0,3.1 \
        font ",10" tc rgb "#a63603"
