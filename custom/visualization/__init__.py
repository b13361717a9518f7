"""Pictures and plots: boxes on images (PIL), evaluation plots, training curves, dataset plots and browsing.

matplotlib is set up in one place (:mod:`custom.visualization.mpl`) and imported only when a plot is drawn.
"""
