"""Delayed feedback: planted delays are recovered, recent labels as observed are biased low for slow complements,
P/Q weights undo it while keeping the recent data, and without delay the weights change nothing."""
import numpy as np
import pandas as pd

from eccr.data.delay import (
    DelayModel,
    PlantedDelays,
    compare_label_policies,
    complement_delays,
    importance_weights,
)


def test_delay_model_recovers_a_planted_delay():
    rng = np.random.default_rng(0)
    age = rng.uniform(0, 300, 50_000)
    delay = np.where(rng.random(50_000) < 0.2, rng.exponential(10.0, 50_000), np.nan)
    delay = np.where(delay <= age, delay, np.nan)  # what is observed by now
    model = DelayModel.fit(age, delay, horizon_days=90)
    assert abs(model.conversion_rate - 0.2) < 0.01
    assert abs(float(model.survival(10 * np.log(2))) - 0.5) < 0.02  # the exponential's median
    assert float(model.survival(90)) == 0.0


def test_weighting_corrects_recent_labels_and_dropping_goes_stale():
    planted = PlantedDelays({"fast": 0.3, "slow": 0.3}, {"fast": 2.0, "slow": 20.0}, days=180, trend=0.5)
    table = compare_label_policies(planted.simulate(200_000, seed=1), cut_days=180, horizon_days=60,
                                   window_days=30, drop_days=60).set_index("kind")
    truth = {k: planted.truth(k, 165, 60) for k in table.index}  # the window's middle
    error = (table[["as_observed", "drop_recent", "weighted"]].sub(pd.Series(truth), axis=0)).abs()
    assert table.loc["slow", "as_observed"] < truth["slow"] - 0.1      # slow complements look like negatives
    assert error.loc["slow", "weighted"] < error.loc["slow", "as_observed"] / 3
    assert (error["weighted"] < error["drop_recent"]).all()            # the older window misses the trend
    assert (table["weighted_n"] == table["as_observed_n"]).all()


def test_no_delay_no_weight():
    model = DelayModel.fit(np.linspace(0, 100, 1000), np.where(np.arange(1000) % 5 == 0, 0.0, np.nan), 30)
    weights = importance_weights(np.arange(1000) % 5 == 0, np.linspace(0, 100, 1000), model)
    assert np.allclose(weights, 1.0)


def test_complement_delays_same_session_and_later():
    events = pd.DataFrame({"user_id": ["u", "u", "u", "v"], "session_id": ["s1", "s1", "s2", "s3"],
                           "item_id": ["cam", "bat", "lens", "bat"],
                           "timestamp": [0, 0, 3 * 86400, 5 * 86400]})
    pairs = pd.DataFrame({"source": ["cam", "cam", "bat"], "target": ["bat", "lens", "cam"]})
    delays = complement_delays(events, pairs).set_index("item_id_b")
    assert delays.loc["bat", "delay_days"] == 0 and delays.loc["bat", "same_session"]
    assert delays.loc["lens", "delay_days"] == 3 and not delays.loc["lens", "same_session"]
    assert len(delays) == 3  # cam -> bat, cam -> lens, bat -> cam (same day)


def test_planted_delay_in_synthetic_data_is_measured():
    """`eccr data synth` with delayed complements (one session per user): the measured delays of complement-type
    pairs bought in another session follow the planted exponential; without the option nothing is delayed."""
    from eccr.data.synth import SyntheticConfig, synthetic_tables

    measured = {}
    for rate in (0.0, 0.4):
        config = SyntheticConfig(interactions_per_user=3.0, n_types=20, delayed_complement_rate=rate,
                                 mean_delay_days=10.0)
        tables = synthetic_tables(3000, 2000, seed=0, config=config)
        key = dict(zip(tables.catalog["item_id"].astype(str), tables.catalog["product_type"].astype(int)))
        events = tables.behaviour.astype({c: str for c in ("user_id", "session_id", "item_id")})
        measured[rate] = complement_delays(events, tables.graph.edges()[["source", "target"]], key)
    assert measured[0.0]["same_session"].all()
    later = measured[0.4][~measured[0.4]["same_session"]]
    assert 0.25 < len(later) / len(measured[0.4]) < 0.45   # 40% planted, less where the type was also bought at once
    assert abs(later["delay_days"].mean() - 10.0) < 1.5
