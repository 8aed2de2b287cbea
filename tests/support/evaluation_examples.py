"""Small hand-worked evaluation examples shared by the evaluation, report and materializer tests."""

CLASSES = ["setosa", "versicolor", "virginica"]

# 6 rows, 3 classes; the predicted class is the most probable one.
#   row  true  proba            predicted
#   0    0     .7 .2 .1         0
#   1    0     .5 .4 .1         0
#   2    0     .2 .6 .2         1
#   3    1     .1 .8 .1         1
#   4    1     .3 .3 .4         2
#   5    2     .2 .2 .6         2
Y3 = [0, 0, 0, 1, 1, 2]
P3 = [[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]]

# scikit-learn's documentation example: residuals (actual - predicted) 0.5, -0.5, 0, -1.
Y_TRUE = [3.0, -0.5, 2.0, 7.0]
Y_PRED = [2.5, 0.0, 2.0, 8.0]
