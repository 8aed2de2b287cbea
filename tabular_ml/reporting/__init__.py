"""The evaluation report as people see it: plotted curves, charts, the HTML page."""
