#!/usr/bin/env python
"""Write scikit-learn's bundled example tables as CSV files in data/examples/.

    python data/make_examples.py

wine.csv: 178 wines, 13 chemical measurements, the cultivar (0, 1, 2): multiclass.
diabetes.csv: 442 patients, 10 baseline measurements (unscaled), the disease progression
one year later: regression. The files are small and committed; this script remakes them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.datasets import load_diabetes, load_wine

EXAMPLES = Path(__file__).resolve().parent / "examples"


def wine() -> pd.DataFrame:
    data = load_wine(as_frame=True)
    # a plain name: "od280/od315_of_diluted_wines" holds a '/'
    frame = data.data.rename(columns=lambda name: name.replace("/", "_"))
    return frame.assign(cultivar=data.target)


def diabetes() -> pd.DataFrame:
    data = load_diabetes(as_frame=True, scaled=False)
    return data.data.assign(progression=data.target)


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    for name, frame in (("wine", wine()), ("diabetes", diabetes())):
        path = EXAMPLES / f"{name}.csv"
        frame.to_csv(path, index=False)
        print(f"wrote {path.relative_to(EXAMPLES.parents[1])}: {len(frame)} rows x {frame.shape[1]} columns")


if __name__ == "__main__":
    main()
