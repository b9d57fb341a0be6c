#!/usr/bin/env python3
"""Join a demo snapshot (gen_data.py's features.parquet + labels.parquet) into one CSV for the bake-off.

The CSV holds the 21 model features in contract order, the label `churned` (0/1) and a `split` column, so
that the Rust candidates and the LightGBM reference fit and score exactly the same rows:

  split = test   20% of rows, stratified on the label (sklearn train_test_split, random_state=SEED)
  split = valid  1/8 of the remaining 80% (10% of all rows), stratified; used only by candidates that
                 early-stop on a validation set; every other candidate fits on train + valid
  split = train  the rest

Categoricals are integer-coded here (fixed vocabulary order below, empty cell = missing), so every
candidate sees the same dense f64 matrix; a candidate with native categorical support may declare the
three columns categorical, the others treat the codes as ordinal numbers.

Usage: prep_csv.py --data DIR --out FILE.csv [--seed 42]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

FEATURES = [
    "customer_age_days", "account_age_days", "total_orders", "total_revenue", "days_since_last_order",
    "order_frequency", "avg_order_value", "website_visits_30d", "email_open_rate", "cart_abandonment_rate",
    "product_views_30d", "support_tickets_total", "support_tickets_open", "returns_count", "refunds_count",
    "favorite_category", "discount_usage_rate", "premium_product_rate", "payment_method", "shipping_method",
    "failed_payment_count",
]
# Vocabulary order as in gen_data.py; the code of a value is its index here.
CATEGORIES = {
    "favorite_category": ["electronics", "fashion", "home", "beauty", "sports", "books", "grocery", "toys"],
    "payment_method": ["credit_card", "debit_card", "paypal", "bank_transfer", "cash_on_delivery"],
    "shipping_method": ["standard", "express", "pickup", "same_day"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="directory with features.parquet and labels.parquet")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    t0 = time.perf_counter()
    feat = pd.read_parquet(f"{args.data}/features.parquet")
    lab = pd.read_parquet(f"{args.data}/labels.parquet", columns=["customer_id", "churned"])
    df = feat.merge(lab, on="customer_id", how="inner", validate="one_to_one")

    out = pd.DataFrame(index=df.index)
    for col in FEATURES:
        if col in CATEGORIES:
            codes = pd.Categorical(df[col], categories=CATEGORIES[col]).codes.astype(np.float64)
            codes[codes < 0] = np.nan  # null or unknown value -> missing
            out[col] = codes
        else:
            out[col] = df[col].astype(np.float64)
    y = df["churned"].astype(np.int8).to_numpy()
    out["churned"] = y

    idx = np.arange(len(df))
    rest, test = train_test_split(idx, test_size=0.2, stratify=y, random_state=args.seed)
    train, valid = train_test_split(rest, test_size=0.125, stratify=y[rest], random_state=args.seed)
    split = np.empty(len(df), dtype=object)
    split[train], split[valid], split[test] = "train", "valid", "test"
    out["split"] = split

    out.to_csv(args.out, index=False, na_rep="", float_format="%.10g")
    print(f"rows={len(out)} train={len(train)} valid={len(valid)} test={len(test)} "
          f"churn_rate={y.mean():.4f} seconds={time.perf_counter() - t0:.1f} out={args.out}")


if __name__ == "__main__":
    main()
