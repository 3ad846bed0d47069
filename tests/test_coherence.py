import pandas as pd
import pytest

from eccr.coherence import (AttributeExtractor, compatibility_phrase, grounded_explanation, labelled_pairs,
                            model_tokens, pair_flags, short_name)
from eccr.data.schema import Catalog


def _catalog(rows):
    return Catalog(pd.DataFrame([{"item_id": i, "title": t, "category": c, "brand": b, "text": ""}
                                 for i, t, c, b in rows]))


CAT = _catalog([
    ("cam", "Canon EOS 60D 18 MP CMOS Digital SLR Camera (Body Only)", ["Camera", "Digital SLR Cameras"], ""),
    ("cam2", "Canon EOS Rebel T7 DSLR Camera with 18-55mm Lens", ["Camera", "Digital SLR Cameras"], ""),
    ("nik", "Nikon D7100 24.1 MP DX-Format CMOS Digital SLR", ["Camera", "Digital SLR Cameras"], ""),
    ("bat", "Wasabi Power Battery for Canon LP-E6 and Canon EOS 5D Mark II, EOS 60D, EOS 7D",
     ["Camera", "Camera Batteries"], ""),
    ("bat2", "Wasabi Power Battery for Nikon EN-EL15 and Nikon D7100, D800", ["Camera", "Camera Batteries"], ""),
    ("case", "Mophie Juice Pack Air Battery Case for iPhone 5 and 5S", ["Phones", "Battery Charger Cases"], ""),
])
ROW = {r.item_id: r._asdict() for r in CAT.items.itertuples(index=False)}


def test_model_tokens_keep_models_and_drop_units():
    assert model_tokens("Transcend 64 GB 400X CF card TS64GCF400, 1600mah, 3.0, 25FT") == {"TS64GCF400"}
    assert {"LP-E6", "60D", "7D", "5D"} <= model_tokens(ROW["bat"]["title"])
    assert "64GB" not in model_tokens("SanDisk 64GB Extreme")


def test_compatibility_phrase_stops_at_separator():
    assert compatibility_phrase("Case for iPhone 5 and 5S - Black (Retail)") == "iPhone 5 and 5S"
    assert compatibility_phrase("Canon EOS 60D Body") == ""


def test_compatible_battery_and_camera_in_both_directions():
    ex = AttributeExtractor(CAT)
    f1 = pair_flags(ROW["cam"], ROW["bat"], ex, complementary=True)
    f2 = pair_flags(ROW["bat"], ROW["cam"], ex, complementary=True)
    assert f1.compatible and f2.compatible and f1.coherent
    assert any("60D" in e for e in f1.evidence)


def test_incompatible_brand_is_not_compatible():
    ex = AttributeExtractor(CAT)
    flags = pair_flags(ROW["nik"], ROW["bat"], ex, complementary=True)
    assert not flags.compatible and not flags.coherent
    assert pair_flags(ROW["nik"], ROW["bat2"], ex).compatible


def test_relevant_by_brand_and_substitutes():
    ex = AttributeExtractor(CAT)
    assert "canon" in ex.brands and ex.brand("cam") == "canon"
    flags = pair_flags(ROW["cam"], ROW["cam2"], ex)
    assert flags.relevant  # both Canon
    assert not pair_flags(ROW["cam"], ROW["case"], ex).relevant
    nik_vs_cam = pair_flags(ROW["cam"], ROW["nik"], ex, substitute_jaccard=0.2)
    assert nik_vs_cam.substitute and not nik_vs_cam.complementary


def test_grounded_explanation_uses_only_given_facts():
    ex = AttributeExtractor(CAT)
    flags = pair_flags(ROW["cam"], ROW["bat"], ex, complementary=True)
    text = grounded_explanation(ROW["cam"], ROW["bat"], flags, intent="spare power")
    assert "Wasabi Power Battery" in text and "Canon EOS 60D" in text and "spare power" in text
    assert short_name("Sony MDR-EX210B/BLK Earbud Style Headphones, Black") == "Sony MDR-EX210B/BLK Earbud Style Headphones"


def test_real_titles_flags(electronic_dir):
    from eccr.data.bundle_intents import load_bundle_intents

    ds = load_bundle_intents(electronic_dir)
    lp = labelled_pairs(ds)
    assert len(lp) > 20000
    # bundles are far more often coherent than same-session pairs outside bundles
    in_bundle = lp[lp["complementary"]]
    outside = lp[lp["co_bought_incoherent"]]
    assert in_bundle["relevant"].mean() > 2 * outside["relevant"].mean()
    assert not outside["coherent"].any()
    assert in_bundle["coherent"].mean() > 0.05


def test_a_battery_for_other_models_or_another_brand_is_flagged_incompatible():
    ex = AttributeExtractor(CAT)
    other_model = pair_flags(ROW["cam2"], ROW["bat"], ex, complementary=True)  # Rebel T7 vs "for ... 60D, 7D"
    assert other_model.incompatible and not other_model.compatible and not other_model.coherent
    assert any("not this model" in e for e in other_model.evidence)
    assert other_model.as_dict()["incompatible"]
    # another brand's battery is not claimed incompatible (titles rarely say enough), just not compatible
    other_brand = pair_flags(ROW["cam"], ROW["bat2"], ex, complementary=True)  # Canon 60D vs "for Nikon ..."
    assert not other_brand.incompatible and not other_brand.compatible and not other_brand.coherent
    fits = pair_flags(ROW["cam"], ROW["bat"], ex, complementary=True)
    assert fits.compatible and not fits.incompatible and fits.coherent
    # no compatibility phrase on either side: nothing is claimed
    assert not pair_flags(ROW["cam"], ROW["nik"], ex).incompatible
