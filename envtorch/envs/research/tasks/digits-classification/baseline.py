"""Baseline: logistic regression on the raw pixels; predicts validation and test rows."""

import numpy as np
from sklearn.linear_model import LogisticRegression

train = np.loadtxt("train.csv", delimiter=",", skiprows=1)
validation = np.loadtxt("validation.csv", delimiter=",", skiprows=1)
test = np.loadtxt("test.csv", delimiter=",", skiprows=1)

model = LogisticRegression(max_iter=5000)
model.fit(train[:, 1:-1], train[:, -1])

with open("submission.csv", "w") as file:
    file.write("id,target\n")
    for ids, features in [(validation[:, 0], validation[:, 1:-1]), (test[:, 0], test[:, 1:])]:
        for row, prediction in zip(ids, model.predict(features), strict=False):
            file.write(f"{int(row)},{int(prediction)}\n")
