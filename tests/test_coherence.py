import subprocess
import sys

import pandas as pd
import pytest

from eccr.coherence import (
    AttributeExtractor,
    PairFlags,
    cable_plugs,
    card_formats,
    card_slots,
    compatibility_phrase,
    device_ports,
    foreign_types,
    grounded_explanation,
    grounding,
    labelled_pairs,
    leaf_types,
    lens_mounts,
    looks_like_device,
    mislabelled_types,
    misnamed_fits,
    model_names,
    model_tokens,
    pair_flags,
    repeats_itself,
    screen_sizes,
    sentence_case_dropped,
    short_name,
    size_ranges,
    template_states_reason,
    unfinished,
    unsupported_functions,
)
from eccr.data.schema import Catalog


def _catalog(rows):
    return Catalog(pd.DataFrame([{"item_id": i, "title": t, "category": c, "brand": b, "text": ""}
                                 for i, t, c, b in rows]))


CAT = _catalog([
    ("cam", "Canon EOS 60D 18 MP CMOS Digital SLR Camera (Body Only)", ["Camera", "Digital SLR Cameras"], ""),
    ("cam2", "Canon EOS Rebel T7 DSLR Camera with 18-55mm Lens", ["Camera", "Digital SLR Cameras"], ""),
    ("nik", "Nikon D7100 24.1 MP DX-Format CMOS Digital SLR", ["Camera", "Digital SLR Cameras"], ""),
    ("nik2", "Nikon D3300 24.2 MP CMOS Digital SLR Camera", ["Camera", "Digital SLR Cameras"], ""),
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


def test_short_name_drops_spec_words_but_keeps_capacity_focal_length_and_model_numbers():
    assert short_name("Nikon Z50 20.9MP APS-C Mirrorless Camera") == "Nikon Z50 APS-C Mirrorless Camera"
    assert short_name("Samsung 65-inch 4K Crystal UHD Smart TV") == "Samsung Crystal UHD Smart TV"
    assert short_name("SanDisk Extreme 64GB SDXC UHS-I Card") == "SanDisk Extreme 64GB SDXC Card"
    assert short_name("Nikon NIKKOR Z 26mm f/2.8 Pancake") == "Nikon NIKKOR Z 26mm f/2.8"
    assert short_name("Wasabi Power EN-EL25 Battery (2-Pack)") == "Wasabi Power EN-EL25 Battery"
    assert short_name("4K 60fps") == "4K 60fps"  # nothing but specs: kept


def test_a_crowd_intent_is_quoted_without_its_sentence_start_capital():
    assert sentence_case_dropped("Home office with a new Epson printer needs ink") == \
        "home office with a new Epson printer needs ink"
    assert sentence_case_dropped("Nikon photographer needs a battery", known="Nikon Z50") == \
        "Nikon photographer needs a battery"
    assert sentence_case_dropped("GPS and a mount") == "GPS and a mount"
    printer = {"item_id": "p", "title": "Epson EcoTank ET-2800 Printer", "category": ["Printers"]}
    ink = {"item_id": "i", "title": "Epson T522 Black Ink Bottle", "category": ["Printer Ink"]}
    text = grounded_explanation(printer, ink, pair_flags(printer, ink, AttributeExtractor(CAT), complementary=True),
                                intent="Home office with a new Epson printer needs ink")
    assert 'Together they serve "home office with a new Epson printer needs ink".' in text
    # a capital that names a brand the pair is not of still keeps the intent out
    ex = AttributeExtractor(CAT)
    assert "Together" not in grounded_explanation(printer, ink, pair_flags(printer, ink, ex),
                                                  intent="Canon photographer needs ink", extractor=ex)


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


def test_two_models_that_share_only_a_part_of_their_names_are_two_models(demo):
    """The demo's Sony WH-1000XM5 headphones were offered a case "for Sony WF-1000XM5" (the earbuds): the two
    names share "1000XM5", which once counted as a shared model. A part still matches a whole name ("GF1" and
    "DMC-GF1")."""
    _, ex, row = demo
    headphones, earbuds_case = row("Sony WH-1000XM5"), row("Spigen Rugged Armor Case for Sony WF-1000XM5")
    flags = pair_flags(headphones, earbuds_case, ex)
    assert flags.incompatible and "made for WF-1000XM5, not this model" in flags.evidence
    assert not pair_flags(row("Sony WF-1000XM5"), earbuds_case, ex).incompatible
    panasonic = {"item_id": "P", "title": "Panasonic Lumix DMC-GF1 Camera", "category": ["Electronics", "Cameras"],
                 "brand": "Panasonic"}
    battery = {"item_id": "B", "title": "Battery for Panasonic GF1", "category": ["Electronics", "Batteries"]}
    assert not pair_flags(panasonic, battery, ex).incompatible


def test_a_battery_for_other_models_or_another_brand_is_flagged_incompatible():
    ex = AttributeExtractor(CAT)
    other_model = pair_flags(ROW["cam2"], ROW["bat"], ex, complementary=True)  # Rebel T7 vs "for ... 60D, 7D"
    assert other_model.incompatible and not other_model.compatible and not other_model.coherent
    assert any("not this model" in e for e in other_model.evidence)
    assert other_model.as_dict()["incompatible"]
    # another brand's battery: "made for Nikon, not Canon"
    other_brand = pair_flags(ROW["cam"], ROW["bat2"], ex, complementary=True)  # Canon 60D vs "for Nikon ..."
    assert other_brand.incompatible and not other_brand.compatible and not other_brand.coherent
    assert "made for Nikon, not Canon" in other_brand.evidence
    fits = pair_flags(ROW["cam"], ROW["bat"], ex, complementary=True)
    assert fits.compatible and not fits.incompatible and fits.coherent
    # no compatibility phrase on either side: nothing is claimed
    assert not pair_flags(ROW["cam"], ROW["nik"], ex).incompatible


# ---------------------------------------------------------------- incompatible: another brand, model or mount
def test_model_names_mounts_and_devices():
    assert model_names("Spigen Ultra Hybrid Case for iPhone 14 / iPhone 13").keys() == {"IPHONE14", "IPHONE13"}
    assert set(model_names("Apple iPhone 14 Pro Max 6.7-inch Smartphone")) == {"IPHONE14PROMAX"}  # not an iPhone 14
    assert set(model_names("Case for Galaxy S23 Ultra")) == {"S23ULTRA"}
    assert set(model_names("Speck Fitfolio Case for iPad 2/3/4 (SPK-A1750)")) >= {"IPAD2", "IPAD3", "IPAD4"}
    assert not model_names("for Apple 15 inch MacBook, USB 3.0, Class 10, 2 Pack")
    assert lens_mounts("Sigma 18-35mm f/1.8 DC HSM Art Lens for Canon EF Mount") == {"EF"}
    assert lens_mounts("Canon EOS Rebel T7 24.1MP APS-C DSLR (Body Only, Canon EF-S/EF Mount)") == {"EF-S", "EF"}
    assert lens_mounts("Fotodiox Lens Mount Adapter to Sony E-mount Camera") == {"E"}
    assert lens_mounts("Panasonic Lumix G 25mm Lens for Micro Four Thirds Mount") == {"Micro Four Thirds"}
    assert not lens_mounts("Mounting Dream TV Wall Mount") and not lens_mounts("Joby Tripod Z Mount")
    assert looks_like_device("Nikon D7100 24.1 MP DX-Format CMOS Digital SLR (Body Only)")  # no category: title
    assert looks_like_device("Apple iPad Mini MD528LL/A (16GB, Wi-Fi, Black)")
    assert looks_like_device("Canon EOS Rebel T7", ("Electronics", "Camera & Photo", "Digital Cameras"))
    assert not looks_like_device("Canon 200DG Digital Camera Gadget Bag", ("Electronics", "Bags & Cases", "Camera Cases"))
    assert not looks_like_device("Canon 200DG Digital Camera Gadget Bag -Black")
    assert not looks_like_device("LP-E10 Battery for Canon EOS Rebel T7")


@pytest.fixture(scope="module")
def demo():
    from eccr.data.demo import read_demo_catalog

    demo = read_demo_catalog()
    catalog = demo.catalog()
    rows = {r.title: r._asdict() for r in catalog.items.itertuples(index=False)}

    def row(prefix):
        hits = [t for t in rows if t.startswith(prefix)]
        assert len(hits) == 1, (prefix, hits)
        return rows[hits[0]]

    return demo, AttributeExtractor(catalog), row


def _rows_by_id(demo) -> dict[str, dict]:
    """The demo catalogue's rows (title, category, brand, description ...) by item id, as the `demo` fixture's `row`
    gives them by title."""
    return {r.item_id: r._asdict() for r in demo.catalog().items.itertuples(index=False)}


def test_demo_accessories_for_another_brand_model_or_mount_are_incompatible(demo):
    _, ex, row = demo
    iphone13, t7 = row("Apple iPhone 13 "), row("Canon EOS Rebel T7 ")
    other_brand = pair_flags(iphone13, row("Supershieldz Tempered Glass Screen Protector (3 Pack) for OnePlus 11 5G"), ex,
                             complementary=True)
    assert other_brand.incompatible and not other_brand.coherent
    assert "made for OnePlus, not Apple" in other_brand.evidence
    other_model = pair_flags(iphone13, row("Apple Clear Case with MagSafe for iPhone 14"), ex, complementary=True)
    assert other_model.incompatible and not other_model.compatible
    assert "made for iPhone 14, not this model" in other_model.evidence
    bigger = pair_flags(row("Apple iPhone 14 Pro Max "), row("OtterBox Symmetry Series Case for iPhone 14"), ex)
    assert bigger.incompatible  # "iPhone 14 Pro Max" is not an "iPhone 14"
    line = pair_flags(iphone13, row("ESR Cyber Armor Case for Apple AirPods (3rd generation)"), ex)
    assert line.incompatible and "made for AirPods, not iPhone" in line.evidence
    mount = pair_flags(t7, row("Canon RF 50mm f/1.8 STM Prime Lens"), ex, complementary=True)
    assert mount.incompatible and not mount.compatible and not mount.coherent
    assert "made for RF mount, not EF/EF-S" in mount.evidence
    battery = pair_flags(row("Nikon D3500 "), row("Canon LP-E10 Rechargeable"), ex)
    assert battery.incompatible and "made for Canon, not Nikon" in battery.evidence
    t8i = row("Canon EOS Rebel T8i ")
    assert "made for T7, T6, not this model" in pair_flags(t8i, row("Wasabi Power LP-E10 Battery"), ex).evidence
    # "for Canon EOS Rebel T8i, … R100 and more": the list says it is incomplete, so no other model is claimed
    assert not pair_flags(t7, row("Neewer LP-E17 Battery"), ex).incompatible


def test_demo_accessories_of_rival_makers_and_games_of_another_platform_are_incompatible(demo):
    """A game names its platform after a dash ("Starfield - Xbox Series X"): another maker's console is not for it.
    Two accessories restricted to rival makers' devices (a Joy-Con "for Nintendo Switch" and an Xbox game, a
    Canon battery "for Canon EOS Rebel T7" and a Nikon one) fit no one device, so neither goes with the other."""
    _, ex, row = demo
    starfield = row("Starfield - Xbox Series X")
    assert compatibility_phrase(starfield["title"]) == "Xbox Series X"
    assert compatibility_phrase("Call of Duty - PS4 (Standard Edition)") == "PS4"
    assert compatibility_phrase("Canon EOS Rebel T7 - Black") == ""
    assert not looks_like_device(starfield["title"], tuple(starfield["category"]))
    for console, maker in (("Nintendo Switch Lite", "Nintendo"), ("Sony PlayStation 5 Console", "Sony")):
        flags = pair_flags(starfield, row(console), ex)
        assert flags.incompatible and f"made for Microsoft, not {maker}" in flags.evidence, console
    console = pair_flags(starfield, row("Microsoft Xbox Series X"), ex)
    assert not console.incompatible and console.evidence == ["made for Xbox"]
    assert grounded_explanation(starfield, row("Microsoft Xbox Series X"), console).endswith(
        "goes with the Starfield, which is made for Xbox.")  # the game is, not the console
    joycon = pair_flags(starfield, row("Nintendo Joy-Con (L)/(R)"), ex)
    assert joycon.incompatible and joycon.evidence == ["made for Nintendo, not Xbox"]
    assert "made for PlayStation, not Xbox" in pair_flags(
        starfield, row("Sony DualSense Wireless Controller for PlayStation 5"), ex).evidence
    xbox_pad = pair_flags(starfield, row("Microsoft Xbox Wireless Controller - Carbon Black"), ex)
    assert not xbox_pad.incompatible and xbox_pad.relevant
    batteries = pair_flags(row("Canon LP-E10 Rechargeable"), row("Nikon EN-EL14a Rechargeable"), ex)
    assert batteries.incompatible and batteries.evidence == ["made for Nikon, not Canon"]
    # marketing ("Licensed for Nintendo Switch") and hedged phrases restrict nothing
    assert not pair_flags(starfield, row("SanDisk 256GB microSDXC Card Licensed for Nintendo"), ex).incompatible
    assert not pair_flags(row("Nikon EN-EL14a Rechargeable"), row("Anker 313 Wireless Charger"), ex).incompatible


def test_demo_accessories_for_other_models_of_one_line_are_incompatible(demo):
    _, ex, row = demo
    assert model_names("OtterBox Defender Series Case for iPhone SE (3rd generation)") == {"IPHONESE": "iPhone SE"}
    assert model_names("Case for iPhone XR and iPhone XS Max").keys() == {"IPHONEXR", "IPHONEXSMAX"}
    assert model_names("iPhone Case USB") == {}
    se_case = row("OtterBox Defender Series Case for iPhone SE")
    other_phone = pair_flags(row("Apple iPhone 15 6.1"), se_case, ex)
    assert other_phone.evidence == ["made for iPhone SE, not this model"]  # not also "made for iPhone"
    assert pair_flags(row("Apple iPhone SE"), se_case, ex).compatible
    protector = pair_flags(se_case, row("ESR Armorite Tempered Glass Screen Protector"), ex)
    assert protector.incompatible and protector.evidence == ["made for iPhone 15, iPhone 15 Pro, not iPhone SE"]
    ultra = pair_flags(row("Spigen Thin Fit Case for Galaxy S24"), row("Spigen GlasTR EZ Fit Tempered Glass Screen Protector for Galaxy S24 Ultra"), ex)
    assert ultra.incompatible and "made for S24 Ultra, not S24" in ultra.evidence  # "S24 Ultra" is not an "S24"
    same = pair_flags(row("Apple Silicone Case with MagSafe for iPhone 13"), row("Spigen Ultra Hybrid Case for iPhone 14"), ex)
    assert not same.incompatible  # "for iPhone 14 / iPhone 13"
    # chargers and cables fit more models than their titles list
    assert not pair_flags(row("Spigen Tough Armor Case for Galaxy S24 Ultra"), row("Samsung 25W Super Fast"),
                          ex).incompatible


def test_demo_accessory_pairs_flagged_incompatible_agree_with_the_catalogue_facts(demo):
    """Over every pair of demo accessories with a "for" phrase: the flag fires on no pair that fits a common
    device and catches most that do not."""
    catalog, ex, _ = demo
    items = catalog.items.set_index("item_id")
    rows = {i: {"item_id": i, **r} for i, r in items[["title", "category", "brand"]].to_dict("index").items()}
    accessories = [i for i in items.index[items["role"] == "accessory"] if compatibility_phrase(items.at[i, "title"])]
    false_alarms = caught = missed = 0
    for n, a in enumerate(accessories):
        for b in accessories[n + 1:]:
            flagged = pair_flags(rows[a], rows[b], ex).incompatible
            if catalog.is_compatible(catalog.position_of[a], catalog.position_of[b]):
                false_alarms += flagged
            else:
                caught += flagged
                missed += not flagged
    assert false_alarms == 0
    assert caught / (caught + missed) > 0.6, (caught, missed)


def test_a_disc_game_does_not_fit_a_digital_only_console(demo):
    """The demo's descriptions say which games are on a disc and which consoles have no drive (the Xbox Series S's
    title does not); every game x console pair flagged this way is one the catalogue says does not fit."""
    catalog, ex, _ = demo
    items = catalog.items.set_index("item_id")
    rows = _rows_by_id(catalog)
    starfield = rows["D0344"]
    series_s = pair_flags(starfield, rows["D0322"], ex)
    assert series_s.incompatible and series_s.evidence == ["made for a disc drive, not a digital-only console"]
    assert not pair_flags(starfield, rows["D0321"], ex).incompatible  # the Series X has a drive
    ps5_digital = pair_flags(rows["D0336"], rows["D0318"], ex)  # Spider-Man 2 names the PlayStation 5 ...
    assert ps5_digital.incompatible and not ps5_digital.compatible and not any(
        e.startswith("fits") for e in ps5_digital.evidence)  # ... whose Digital Edition it does not fit
    games = items.index[items["product_type"] == "video game"]
    consoles = items.index[items["product_type"] == "game console"]
    for g in games:
        for c in consoles:
            if "disc drive" in " ".join(pair_flags(rows[g], rows[c], ex).evidence):
                assert not catalog.is_compatible(catalog.position_of[g], catalog.position_of[c]), (g, c)
    plain = {k: v for k, v in rows["D0322"].items() if k != "text"}  # no description, nothing to go on
    assert not pair_flags(starfield, plain, ex).incompatible
    # only games and films against consoles and players: a cable "for Blu-ray disc players" beside a TV with a
    # "digital-only" tuner is not a disc game
    cable = {"item_id": "C", "title": "HDMI Cable for Blu-ray Disc Players", "category": ["Electronics", "Cables"],
             "text": "Connects Blu-ray disc players to TVs."}
    tv = {"item_id": "T", "title": "Sony 55-inch LED TV", "category": ["Electronics", "Televisions"],
          "text": "Digital-only ATSC tuner."}
    assert not pair_flags(cable, tv, ex).incompatible and not pair_flags(cable, rows["D0318"], ex).incompatible


def test_a_cable_must_plug_into_the_phones_port(demo):
    """The demo's phones say their charging port in the description only; a USB-C cable beside the iPhone SE
    (Lightning) is flagged, a USB-C to Lightning cable fits it, and a charger (which needs a cable) is left alone.
    Every pair flagged this way is one the catalogue says does not fit."""
    catalog, ex, row = demo
    phone_se, phone_15 = row("Apple iPhone SE"), row("Apple iPhone 15 6.1-inch")
    usb_c, lightning = row("Apple 240W USB-C Charge Cable"), row("Apple USB-C to Lightning Cable")
    assert device_ports(phone_se) == {"Lightning"} and device_ports(phone_15) == {"USB-C"}
    assert cable_plugs(usb_c) == {"USB-C"} and cable_plugs(lightning) == {"Lightning"}
    assert cable_plugs(row("Apple 20W USB-C Power Adapter")) == frozenset()
    flags = pair_flags(phone_se, usb_c, ex)
    assert flags.incompatible and "made for USB-C port, not Lightning" in flags.evidence
    assert pair_flags(lightning, phone_se, ex).compatible and not pair_flags(lightning, phone_se, ex).incompatible
    assert pair_flags(phone_15, lightning, ex).incompatible
    assert not pair_flags(phone_se, row("Apple 20W USB-C Power Adapter"), ex).incompatible
    assert cable_plugs({"title": "Lightning to USB Cable"}) == {"Lightning"}  # either order of the two ends
    assert cable_plugs({"title": "3-in-1 Charging Cable, Lightning, USB-C and Micro USB"}) == \
        {"Lightning", "USB-C", "Micro-USB"}
    assert device_ports({"title": "Laptop", "text": "Two USB-C ports and an HDMI port."}) == frozenset()
    items = catalog.items.set_index("item_id")
    rows = _rows_by_id(catalog)
    flagged = 0
    for c in items.index[items["title"].str.contains("Cable")]:
        for p in items.index[items["product_type"] == "phone"]:
            if any("port, not" in e for e in pair_flags(rows[p], rows[c], ex).evidence):
                flagged += 1
                assert not catalog.is_compatible(catalog.position_of[p], catalog.position_of[c]), (p, c)
    assert flagged >= 10


def test_a_use_claim_must_name_the_pairs_model(demo):
    """The demo's LM wrote "The Apple 240W USB-C Charge Cable is useful with the OtterBox Defender Series Case for
    charging the iPhone SE": only the case names the iPhone SE, nothing says the cable charges it."""
    _, ex, row = demo
    case, cable = row("OtterBox Defender Series Case for iPhone SE"), row("Apple 240W USB-C")
    flags = pair_flags(case, cable, ex)
    check = grounding("The Apple 240W USB-C Charge Cable is useful with the OtterBox Defender Series Case for "
                      "charging the iPhone SE.", case["title"], cable["title"], ex, flags=flags)
    assert check.contradicted == ["use claimed for iPhone SE, which is not this pair's"] and not check.grounded
    phone = row("Apple iPhone SE")
    assert grounding("The OtterBox Defender Series Case protects the iPhone SE.", phone["title"], case["title"], ex,
                     flags=pair_flags(phone, case, ex)).grounded


def test_screen_sizes_of_mounts_and_sleeves_fit_the_device_or_do_not(demo):
    assert size_ranges("37-82 inch TVs") == [(37, 37, 82.99, "37-82 inch")]
    assert size_ranges("15-16-inch laptops") == [(15, 15, 16.99, "15-16-inch")]
    assert size_ranges("13-inch laptops") == [(12, 13, 13.99, "13-inch")]
    assert size_ranges("up to 17.3 inch laptops") == [(0, 0, 17.3, "up to 17.3 inch")]
    assert size_ranges("32-65&quot; LED TVs")[0][3] == '32-65"' and size_ranges("iPhone 14 Pro") == []
    assert screen_sizes("Dell XPS 15 9530 Laptop, 15.6-inch Windows") == {15.6}
    _, ex, row = demo
    small_mount, tv65 = row("Mounting Dream Fixed TV Wall Mount for Small TVs"), row("Samsung 65-inch S90C")
    too_big = pair_flags(tv65, small_mount, ex)
    assert too_big.incompatible and too_big.evidence == ["made for 17-42 inch, not 65-inch"]
    fits = pair_flags(tv65, row("Sanus Advanced Tilt 4D TV Wall Mount"), ex)
    assert fits.compatible and "fits 65-inch" in fits.evidence
    assert grounded_explanation(tv65, row("Sanus Advanced Tilt 4D TV Wall Mount"), fits).endswith(
        ": it fits a 65-inch screen.")
    sleeve13 = row("Inateck 13 inch Laptop Sleeve Case")
    assert "made for 13-inch, not 15.6-inch" in pair_flags(row("Dell XPS 15 9530"), sleeve13, ex).evidence
    assert "fits 13.6-inch" in pair_flags(row("Apple MacBook Air 13-inch (M2)"), sleeve13, ex).evidence
    # the size as the device's title writes it, so that an explanation repeats no figure neither title has
    assert "fits 14.0-inch" in pair_flags(row("ASUS ROG Zephyrus G14"), row("Inateck 14 inch Laptop Sleeve"), ex).evidence
    # a 12.4-inch laptop in a 13-inch sleeve: neither claimed
    loose = pair_flags(row("Microsoft Surface Laptop Go 3"), sleeve13, ex)
    assert not loose.incompatible and not loose.compatible
    # sizes of another kind of device say nothing: "for 13-inch laptops" next to a camera's 3-inch screen
    camera = {"item_id": "cam", "title": "Canon EOS Rebel T7 DSLR Camera with 3 inch LCD",
              "category": ["Camera", "Digital SLR Cameras"], "brand": "Canon"}
    assert not pair_flags(camera, sleeve13, ex).incompatible


def test_demo_screen_size_flags_agree_with_the_catalogue_facts(demo):
    """Every device × accessory-with-sizes pair of the demo: a size fit or misfit is claimed only where the
    catalogue agrees."""
    catalog, ex, _ = demo
    items = catalog.items.set_index("item_id")
    rows = {i: {"item_id": i, **r} for i, r in items[["title", "category", "brand"]].to_dict("index").items()}
    sized = [i for i in items.index[items["role"] == "accessory"] if size_ranges(compatibility_phrase(items.at[i, "title"]))]
    assert len(sized) >= 20
    right = wrong = 0
    for a in sized:
        for d in items.index[items["role"] == "device"]:
            flags = pair_flags(rows[d], rows[a], ex)
            if any("inch" in e for e in flags.evidence):
                fits = catalog.is_compatible(catalog.position_of[a], catalog.position_of[d])
                right += flags.compatible == fits and flags.incompatible != fits
                wrong += flags.compatible != fits or flags.incompatible == fits
    assert wrong == 0 and right >= 300, (right, wrong)


def test_demo_memory_cards_fit_the_slots_the_device_describes(demo):
    _, ex, row = demo
    t7, z6 = row("Canon EOS Rebel T7 "), row("Nikon Z6 II ")
    cfexpress_b = row("SanDisk 128GB Extreme PRO CFexpress Type B Card")
    wrong = pair_flags(t7, cfexpress_b, ex, complementary=True)  # the T7 records to SD cards only
    assert wrong.incompatible and not wrong.coherent and "made for CFexpress Type B slots, not SD" in wrong.evidence
    assert pair_flags(z6, cfexpress_b, ex, complementary=True).compatible  # the Z6 II has SD and CFexpress B
    sd = pair_flags(t7, row("SanDisk 64GB Extreme SDXC"), ex, complementary=True)
    assert sd.compatible and not sd.incompatible and "fits card slot" in sd.evidence
    switch = row("Nintendo Switch OLED Model")
    assert pair_flags(switch, row("SanDisk 64GB Extreme SDXC"), ex).incompatible  # a microSD slot
    assert pair_flags(t7, row("Samsung EVO Select 128GB microSDXC Memory Card with Adapter"), ex).compatible
    assert pair_flags(t7, row("SanDisk 256GB microSDXC Card Licensed"), ex).incompatible  # no adapter
    text = grounded_explanation(t7, row("SanDisk 64GB Extreme SDXC"), sd)
    assert "it fits the card slot" in text  # the format ("SD") is the description's, not a title's
    # a device that does not say which cards it takes claims nothing
    assert card_slots({"title": "Canon EOS Rebel T7 with 32GB SD card", "text": ""}) == frozenset()
    assert card_formats("Samsung EVO Select 128GB microSDXC Memory Card with Adapter") == {"microSD", "SD"}


def test_demo_fitting_generic_and_hedged_accessories_are_not_incompatible(demo):
    _, ex, row = demo
    iphone13, t7 = row("Apple iPhone 13 "), row("Canon EOS Rebel T7 ")
    for title in ("Spigen Ultra Hybrid Case for iPhone 14 / iPhone 13", "Apple Silicone Case with MagSafe for iPhone 13"):
        fits = pair_flags(iphone13, row(title), ex, complementary=True)
        assert fits.compatible and not fits.incompatible and fits.coherent, title
        assert "fits iPhone 13" in fits.evidence
    for title in ("Canon LP-E10 Rechargeable", "Wasabi Power LP-E10 Battery (2-Pack)", "Canon EF 50mm f/1.8 STM",
                  "Sigma 18-35mm f/1.8 DC HSM Art Lens for Canon EF Mount"):
        fits = pair_flags(t7, row(title), ex, complementary=True)
        assert fits.compatible and not fits.incompatible and fits.coherent, title
    assert "fits EF mount" in pair_flags(t7, row("Canon EF 50mm f/1.8 STM"), ex).evidence
    # no "for" phrase on either side, a universal bag, marketing ("Licensed for"), a hedge ("other Qi phones")
    assert not pair_flags(t7, row("Nikon D3500 "), ex).incompatible
    assert not pair_flags(t7, row("Lowepro Nova Sport 7L"), ex).incompatible
    assert not pair_flags(row("Samsung Galaxy A54 5G "), row("SanDisk 256GB microSDXC Card Licensed for Nintendo"),
                          ex).incompatible
    assert not pair_flags(row("OnePlus 11 5G "), row("Anker 313 Wireless Charger"), ex).incompatible
    # a bag with no "for" phrase is not made for anyone: a Nikon battery is not incompatible with it
    assert not pair_flags(row("Lowepro Nova Sport 7L"), row("Nikon EN-EL14a Rechargeable"), ex).incompatible


def test_demo_incompatible_flags_agree_with_the_catalogue_facts(demo):
    """Over every device × accessory-with-a-"for"-phrase pair of the demo: the flag almost never fires on a pair
    the catalogue says fits, and it catches most pairs that do not fit."""
    catalog, ex, _ = demo
    items = catalog.items.set_index("item_id")
    rows = {i: {"item_id": i, **r} for i, r in items[["title", "category", "brand"]].to_dict("index").items()}
    devices = items.index[items["role"] == "device"]
    accessories = [i for i in items.index[items["role"] == "accessory"]
                   if len(items.at[i, "fits"]) and compatibility_phrase(items.at[i, "title"])]
    false_alarms = caught = missed = 0
    for a in accessories:
        fits = set(items.at[a, "fits"])
        for d in devices:
            flagged = pair_flags(rows[d], rows[a], ex).incompatible
            if d in fits:
                false_alarms += flagged
            else:
                caught += flagged
                missed += not flagged
    assert false_alarms <= 5, false_alarms
    assert caught / (caught + missed) > 0.8, (caught, missed)


def test_real_titles_incompatible(electronic_dir):
    from eccr.data.bundle_intents import load_bundle_intents

    ds = load_bundle_intents(electronic_dir)
    ex = AttributeExtractor(ds.catalog)
    rows = {r.item_id: r._asdict() for r in ds.catalog.items.itertuples(index=False)}

    def flags(a, b):
        return pair_flags(rows[a], rows[b], ex)

    rebel_t1i, nikon_d7100, powershot, galaxy_tab3 = "65708", "45284", "104571", "32193"
    ipad_air, ipad_mini, sony_a6000 = "10291", "88764", "109949"
    assert "Canon EOS Rebel T1i" in rows[rebel_t1i]["title"] and "Nikon D7100" in rows[nikon_d7100]["title"]
    # "Replacement EN-EL14a … Battery For Nikon D5300, D3300, …"
    assert "made for Nikon, not Canon" in flags(rebel_t1i, "15359").evidence
    assert "made for Nikon, not Canon" in flags(powershot, "126").evidence  # "EN-EL15 Battery Charger for Nikon 1 V1…"
    assert any("not this model" in e for e in flags(nikon_d7100, "15359").evidence)
    assert any("not this model" in e for e in flags(nikon_d7100, "68895").evidence)  # grip for D5000 D5100 D7000 D90
    # "Fintie iPad Folio Leather Case Cover for iPad 4th Generation …" next to a Samsung Galaxy Tab 3
    assert "made for Apple, not Samsung" in flags(galaxy_tab3, "152848").evidence
    assert "made for Canon, not Sony" in flags(sony_a6000, "1701").evidence  # softbox "for Canon Flash Speedlite"
    for ipad in (ipad_air, ipad_mini):  # "Speck … Case for iPad 2/3/4"
        assert flags(ipad, "5511").incompatible
    # correct pairs are never flagged
    for device, accessory in ((nikon_d7100, "21021"), (nikon_d7100, "126")):  # "… for … D7000, D7100"
        f = flags(device, accessory)
        assert f.compatible and not f.incompatible
    assert not flags(ipad_mini, "55738").incompatible  # "Case for Apple iPad Mini"
    assert not flags(nikon_d7100, "7796").incompatible  # viewfinder "for Canon EOS, Nikon, Olympus, …"
    assert not flags("3543", "7796").incompatible  # … six brands: a universal accessory, also for a Fujifilm
    assert not flags(sony_a6000, "8031").incompatible  # flash "for Canon Nikon Pentax Olympus Camera"
    assert not flags(powershot, "145854").incompatible  # strap "for Digital and Film SLR Cameras": generic
    assert not flags(ipad_mini, "13696").incompatible  # speaker "for Kindle, Tablet or Smartphone": hedged
    assert not flags("135335", "15359").incompatible  # a Canon bag is no device: a Nikon battery is not "for" it
    assert not flags(powershot, nikon_d7100).incompatible  # two devices, no "for" phrase


def test_incompatible_fires_more_outside_bundles(electronic_dir):
    from eccr.data.bundle_intents import load_bundle_intents

    lp = labelled_pairs(load_bundle_intents(electronic_dir))
    in_bundle, outside = lp[lp["complementary"]], lp[lp["co_bought_incoherent"]]
    assert outside["incompatible"].mean() > 1.5 * in_bundle["incompatible"].mean() > 0
    assert not (lp["compatible"] & lp["incompatible"]).any()  # compatible always wins


def test_a_capitalised_fit_word_inside_a_name_is_not_a_fit_claim():
    flags = PairFlags(complementary=True, incompatible=True, evidence=["made for Nikon, not Canon"])
    cam, stick = "Canon EOS Rebel T7 DSLR Camera", "SanDisk Cruzer Fit 4GB USB Flash Drive"
    assert grounding("The SanDisk Cruzer Fit 4GB drive goes with the Canon EOS Rebel T7.", cam, stick,
                     flags=flags).contradicted == []
    assert grounding("The SanDisk Cruzer drive fits the Canon EOS Rebel T7.", cam, stick, flags=flags).contradicted
    assert grounding("Fits the Canon EOS Rebel T7: the SanDisk Cruzer drive.", cam, stick, flags=flags).contradicted
    for claim in ("The SanDisk Cruzer drive Fits The Canon EOS Rebel T7.",
                  'The SanDisk Cruzer drive goes with the camera. "Fits the Canon EOS Rebel T7."',
                  "The SanDisk Cruzer drive (Fits the Canon EOS Rebel T7) goes with the camera.",
                  "For use with the Canon EOS Rebel T7: the SanDisk Cruzer drive."):
        assert any(c.startswith("fit claimed") for c in grounding(claim, cam, stick, flags=flags).contradicted), claim
    # an inch mark does not pair with the quote of an intent
    tablet = 'ASUS Transformer Book T100TA-C1-GR 10.1"'
    template = f'The Logitech K800 keyboard goes with the {tablet}. Together they serve "media / technology".'
    assert grounding(template, tablet, "Logitech K800 keyboard", intent="media / technology").contradicted == []


def test_explanations_never_give_evidence_against_the_pair_as_a_reason():
    flags = PairFlags(complementary=True, incompatible=True, evidence=["made for Nikon, not Canon"])
    text = grounded_explanation(ROW["cam"], ROW["bat2"], flags)
    assert "Nikon, not Canon" not in text


CAM_T7 = "Canon EOS Rebel T7 DSLR Camera"
BAT_T7 = "Wasabi Power LP-E10 Battery for Canon EOS Rebel T7"


def test_grounding_flags_facts_absent_from_both_titles():
    rows = [("a", CAM_T7), ("b", BAT_T7), ("c", "Nikon D7100 DSLR"), ("d", "Nikon EN-EL15 Battery"), ("e", "Sony A7 IV")]
    ex = AttributeExtractor(_catalog([(i, t, [], "") for i, t in rows]))
    good = grounding("The Wasabi LP-E10 battery fits the Canon EOS Rebel T7.", CAM_T7, BAT_T7, ex)
    assert good.grounded
    wrong_model = grounding("The Wasabi battery fits the Canon Rebel T8i and lasts 1200 shots.", CAM_T7, BAT_T7, ex)
    assert not wrong_model.grounded and {"T8I", "1200"} <= set(wrong_model.unsupported)
    wrong_brand = grounding("The Wasabi battery also fits Nikon cameras like the Canon T7.", CAM_T7, BAT_T7, ex)
    assert "nikon" in wrong_brand.unsupported
    one_item = grounding("A great battery pack from Wasabi.", CAM_T7, BAT_T7, ex)
    assert one_item.names_target and not one_item.names_query and not one_item.grounded
    from_category = grounding("The Wasabi battery (usb 3.0 gear) goes with the Canon T7.", CAM_T7, BAT_T7, ex,
                              context="Electronics USB 3.0 gear")
    assert from_category.grounded


def test_grounding_rejects_a_reason_about_a_type_neither_item_is(demo):
    _, ex, row = demo
    ink, printer = row("Epson T522")["title"], row("Epson EcoTank ET-2800")["title"]
    categories = (" ".join(row("Epson T522")["category"]), " ".join(row("Epson EcoTank ET-2800")["category"]))
    assert {"lens", "battery", "card", "printer", "bag", "tripod"} <= ex.leaf_types
    assert not {"control", "mount", "power", "toner"} & ex.leaf_types  # verbs of a reason, singular heads
    # what the Qwen-distilled demo student wrote for this pair
    student = f"The {ink} is useful with the {printer} for storage and a second lens."
    check = grounding(student, ink, printer, ex, categories=categories)
    assert "names a type neither item is: lens" in check.contradicted and not check.grounded
    # the bundle's intent may name other items of the bundle; the pair's sentence may not
    assert not grounding(student, ink, printer, ex, intent="storage and a second lens", categories=categories).grounded
    assert grounding(f"The {ink} refills the {printer}.", ink, printer, ex, categories=categories).grounded
    body, kit, bat = row("Canon EOS Rebel T7")["title"], "Canon EOS Rebel T7 DSLR Camera with 18-55mm Lens", \
        row("Canon LP-E10")["title"]
    assert grounding(f"The {bat} powers the {kit} and its lenses.", kit, bat, ex).grounded  # "Lens" in the title
    assert not grounding(f"The {bat} powers the {body} and its lenses.", body, bat, ex).grounded  # "Body Only"
    # the template's own part words ("protects the lens of"), words inside hyphenated ones, irregular plurals
    uv = "B+W 62mm XS-Pro Clear UV Filter"
    assert grounding(grounded_explanation({"item_id": "u", "title": uv, "category": ["Camera", "Lens Filters"],
                                           "brand": ""}, row("Canon EOS Rebel T7"),
                                          pair_flags(row("Canon EOS Rebel T7"), {"item_id": "u", "title": uv,
                                                     "category": ["Camera", "Lens Filters"], "brand": ""}, ex,
                                                     complementary=True)), body, uv, ex).grounded
    types = leaf_types(["T-Shirts", "Hoodies & Sweatshirts", "TV Ceiling & Wall Mounts", "Walking"])
    assert types == {"shirt", "hoody", "sweatshirt"}  # no "ceiling", no "walking"
    assert foreign_types("The Graphic T-Shirt goes with the Hoodies rack.", "Graphic T-Shirt Zip Hoodie", types) == []
    assert foreign_types("A sweatshirt goes with the T-Shirt.", "Graphic T-Shirt", types) == \
        ["names a type neither item is: sweatshirt"]



@pytest.mark.parametrize("plural, singular", [("batteries", "battery"), ("lenses", "lens"), ("lens", "lens"),
                                              ("series", "series"), ("glass", "glass"), ("mounts", "mount"),
                                              ("boxes", "box"), ("hoodies", "hoody"),
                                              ("purses", "purse"), ("horses", "horse"), ("sunglasses", "sunglass"),
                                              ("styluses", "stylus")])
def test_singular_keeps_words_that_end_in_s_in_the_singular(plural, singular):
    from eccr.coherence import _singular

    assert _singular(plural) == singular


def test_a_brand_shelf_is_not_a_product_type():
    leaves = ["Skechers", "Skechers", "Shoelaces", "Shoelaces", "Girls", "Running Shoes"]
    titles = ["Skechers Go Walk 5", "Skechers Flex Appeal", "Shoelaces Round 3 Pairs", "Flat Laces for Sneakers",
              "Hanes Girls T-Shirt", "Brooks Ghost 15"]
    assert leaf_types(leaves, titles) >= {"shoelace", "shoe"} and "skecher" not in leaf_types(leaves, titles)
    assert "skecher" in leaf_types(leaves)  # without titles nothing tells a shelf from a type


def test_grounding_accepts_a_multi_word_brand_named_in_a_title():
    bat, cam = "Wasabi Power EN-EL25 Battery for Nikon Z50", "Nikon Z50 Mirrorless Camera"
    ex = AttributeExtractor(_catalog([("b", bat, [], "Wasabi Power"), ("c", cam, [], "Nikon"),
                                      ("o", "Case Logic Laptop Sleeve", [], "Case Logic")]))
    assert grounding("The Wasabi Power EN-EL25 battery fits the Nikon Z50.", cam, bat, ex).grounded
    other = grounding("A Case Logic sleeve protects the Nikon Z50 and its Wasabi battery.", cam, bat, ex)
    assert "case logic" in other.unsupported and not other.grounded


def test_serving_code_does_not_import_evaluation():
    """The grounding check lives here so that the Recommender, the batch job and the demo UI never load eccr.evaluate."""
    code = ("import sys, eccr.pipeline, eccr.jobs.explain, eccr.serve.ui, eccr.jobs.distill; "
            "print(sorted(m for m in sys.modules if m.startswith('eccr.evaluate')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- issue #10 B: the grounding check's examples
CARD_64 = "SanDisk 64GB Extreme SDXC UHS-I Memory Card"
IPHONE = "Apple iPhone 13, 128GB, Midnight - Unlocked (Renewed)"
PROTECTOR = "Ailun Glass Screen Protector for iPhone 13 / 13 Pro 6.1-inch Display (3 Pack)"
RF_LENS = "Canon RF 24-105mm F4-7.1 IS STM Lens for Canon RF Mount"
T7_EF = "Canon EOS Rebel T7 DSLR Camera with EF-S 18-55mm Lens, Canon EF-S/EF Mount"
BLUEBERRY = ("The Apple iPhone 13 goes with the Blueberry 2 Pack for a complimentary 6.1-inch Smartphone and Unlocked "
             "1.5-inch Glass Screen Protector (2 Pack)")  # the demo LM's sentence quoted in issue #10


def _issue_extractor():
    rows = [("cam", CAM_T7), ("bat", BAT_T7), ("card", CARD_64), ("ph", IPHONE), ("pr", PROTECTOR),
            ("rf", RF_LENS), ("t7", T7_EF), ("sony", "Sony NP-FZ100 Battery"), ("sony2", "Sony A7 IV Camera")]
    return AttributeExtractor(_catalog([(i, t, [], "") for i, t in rows]))


@pytest.mark.parametrize("sentence, title_a, title_b, fact", [
    ("The SanDisk 128GB card records 4K video on the Canon EOS Rebel T7.", CAM_T7, CARD_64, "128gb"),
    ("The SanDisk 128GB card records 4K video on the Canon EOS Rebel T7.", CAM_T7, CARD_64, "4k"),
    ("The 400W SanDisk card stores the photos of the Canon EOS Rebel T7.", CAM_T7, CARD_64, "400w"),
    ("Sony recommends the SanDisk card for the Canon EOS Rebel T7.", CAM_T7, CARD_64, "sony"),
    (BLUEBERRY, IPHONE, PROTECTOR, "blueberry"),
    (BLUEBERRY, IPHONE, PROTECTOR, "1.5inch"),
    # the real-data sentences quoted in issue #10 (later-period electronic queries)
    ("The 25 Piece Lens Pack for the Canon 400mm SLR camera goes with the Stereo Install Dash Kit.",
     "25 Piece Lens Cleaning Kit for Canon SLR", "Metra Stereo Install Dash Kit for Toyota", "400mm"),
    ("The Mini DisplayPort to HDMI Adapter goes with the Display Port Male (for HDMI 2.0) cable.",
     "Mini DisplayPort to HDMI Adapter", "DisplayPort Male to Male Cable 6ft", "2.0"),
    ("The Accessory Kit For the GoPro HERO3+ Black 03 goes with the SanDisk 32GB card.",
     "50-in-1 Accessory Kit for GoPro Camera", "SanDisk 32GB microSDHC Card", "HERO3"),
])
def test_grounding_rejects_invented_quantities_and_brand_like_words(sentence, title_a, title_b, fact):
    for ex in (_issue_extractor(), None):  # with or without the catalogue's brand vocabulary
        g = grounding(sentence, title_a, title_b, ex)
        assert fact in g.unsupported and not g.grounded


def test_grounding_accepts_quantities_and_names_the_titles_give():
    ex = _issue_extractor()
    assert grounding("The SanDisk 64GB card stores the photos of the Canon EOS Rebel T7.", CAM_T7, CARD_64,
                     ex).grounded
    g = grounding("The Ailun Glass Screen Protector protects the 6.1-inch screen of the Apple iPhone 13 (3 pack).",
                  IPHONE, PROTECTOR, ex)
    assert g.grounded, g


def test_grounding_rejects_claims_the_evidence_contradicts():
    ex = _issue_extractor()
    rf, t7 = {"item_id": "rf", "title": RF_LENS, "category": []}, {"item_id": "t7", "title": T7_EF, "category": []}
    flags = pair_flags(t7, rf, ex, complementary=True)
    assert flags.incompatible
    claim = grounding("The Canon RF lens fits the Canon EOS Rebel T7.", T7_EF, RF_LENS, ex, flags=flags)
    assert not claim.grounded and claim.contradicted and not claim.unsupported
    assert not grounding("The Canon RF lens fits the Canon EOS Rebel T7.", T7_EF, RF_LENS, ex,
                         flags=flags.as_dict()).grounded  # the dict form of the flags works the same
    no_flags = grounding("The Canon RF lens fits the Canon EOS Rebel T7.", T7_EF, RF_LENS, ex)
    assert no_flags.grounded
    negation = grounding("The Wasabi LP-E10 battery does not fit the Canon EOS Rebel T7.", CAM_T7, BAT_T7, ex)
    assert not negation.grounded and negation.contradicted


def test_grounding_accepts_shoppers_bought_together_only_for_bought_pairs():
    ex = _issue_extractor()
    text = 'The Wasabi LP-E10 battery powers the Canon EOS Rebel T7. Shoppers bought them together for "travel".'
    assert not grounding(text, CAM_T7, BAT_T7, ex, intent="travel").grounded
    assert grounding(text, CAM_T7, BAT_T7, ex, intent="travel", bought_together=True).grounded
    assert not grounding("Customers often buy the Wasabi battery with the Canon EOS Rebel T7.", CAM_T7, BAT_T7,
                         ex).grounded


def test_grounded_explanation_gives_the_reason_and_passes_its_own_check():
    ex = _issue_extractor()
    cam = {"item_id": "cam", "title": CAM_T7, "category": ["Camera", "Digital SLR Cameras"]}
    bat = {"item_id": "bat", "title": BAT_T7, "category": ["Camera", "Camera Batteries"]}
    flags = pair_flags(cam, bat, ex, complementary=True)
    text = grounded_explanation(cam, bat, flags)
    assert text.startswith("The Wasabi Power LP-E10 Battery powers the Canon EOS Rebel T7") and "fits the" in text
    assert "hoppers" not in text
    assert grounding(text, CAM_T7, BAT_T7, ex, flags=flags).grounded
    reverse = grounded_explanation(bat, cam, pair_flags(bat, cam, ex, complementary=True))
    assert "powers the Canon EOS Rebel T7" in reverse
    with_intent = grounded_explanation(cam, bat, flags, intent="spare power")
    assert 'Together they serve "spare power"' in with_intent and "hoppers" not in with_intent
    assert "Sony" not in grounded_explanation(cam, bat, flags, intent="Sony photographer")  # invents a brand
    bought = grounded_explanation(cam, bat, flags, intent="spare power", bought_together=True)
    assert 'Shoppers bought them together for "spare power"' in bought
    assert grounding(bought, CAM_T7, BAT_T7, ex, intent="spare power", flags=flags, bought_together=True).grounded


def test_degenerate_repetition_is_recognised():
    assert repeats_itself("Canon EOS 24.2MP Full-Frame Mirrorless 24.2MP Full-Frame Mirrorless")
    assert repeats_itself("The Samsung Galaxy S24 goes with the Samsung Galaxy S24.")
    assert not repeats_itself("The Wasabi Power LP-E10 Battery powers the Canon EOS Rebel T7: it fits the Rebel T7.")


def test_a_type_in_parentheses_must_be_the_named_items():
    """The demo's 200-step LM wrote "(bags)" for AirPods and "(mice)" for a laptop sleeve bought with a mouse: the
    label must come from the title or category path of the item named just before it."""
    airpods = ("Apple AirPods Pro (2nd Generation)", "Electronics Headphones Earbud Headphones")
    charger = ("Anker 313 Wireless Charger Pad", "Electronics Chargers Wireless Chargers")
    sleeve = ("Inateck 14 inch Laptop Sleeve Case", "Electronics Computers Laptop Sleeves")
    mouse = ("Logitech Pebble M350 Wireless Mouse", "Electronics Computers Mice")
    assert mislabelled_types("The Apple AirPods Pro (bags) goes with the Anker 313 Wireless Charger.", airpods, charger)
    wrong = "The Inateck 14 inch Laptop Sleeve Case (mice) goes with the Logitech Pebble M350 Wireless Mouse."
    assert mislabelled_types(wrong, mouse, sleeve) == ["type (mice) is not 'Inateck 14 inch Laptop Sleeve Case''s"]
    right = ("The Inateck 14 inch Laptop Sleeve Case (laptop sleeves) goes with the Logitech Pebble M350 Wireless "
             "Mouse (mice).")
    assert mislabelled_types(right, mouse, sleeve) == []
    assert mislabelled_types("The Apple AirPods Pro (2nd Generation) charge on the Anker pad.", airpods, charger) == []
    quoted = 'The Anker pad charges the AirPods. Shoppers bought them together for "Accessories for the MacBook (M3)".'
    assert mislabelled_types(quoted, airpods, charger) == []  # the intent's words, not a type
    check = grounding(wrong, mouse[0], sleeve[0], context=f"{mouse[1]} {sleeve[1]}", categories=(mouse[1], sleeve[1]))
    assert not check.grounded and check.contradicted
    assert grounding(right, mouse[0], sleeve[0], context=f"{mouse[1]} {sleeve[1]}",
                     categories=(mouse[1], sleeve[1])).grounded


def test_calling_one_item_the_others_type_is_mislabelled():
    """Gemma-3-270M, asked to explain a TV wall mount for a Samsung TV, wrote "The Samsung 43-inch Crystal UHD
    CU8000 4K Smart TV is a wall mount." (it names both items and invents no brand or figure)."""
    tv = ("Samsung 43-inch Crystal UHD CU8000 4K Smart TV", "Electronics Television & Video Televisions")
    mount = ("USX MOUNT Full Motion TV Wall Mount for 47-84 inch TVs", "Electronics Television & Video TV Mounts")
    swapped = "The Samsung 43-inch Crystal UHD CU8000 4K Smart TV is a wall mount."
    assert len(mislabelled_types(swapped, tv, mount)) == 1
    assert not grounding(swapped, tv[0], mount[0], categories=(tv[1], mount[1])).grounded
    assert mislabelled_types("The USX wall mount is a TV mount that holds the Samsung Smart TV.", tv, mount) == []
    # praise is not a type, and a type neither item has is left to the other rules
    assert mislabelled_types("The USX wall mount is a good match for the Samsung Smart TV.", tv, mount) == []
    assert mislabelled_types("The Samsung Smart TV is a great screen.", tv, mount) == []
    assert mislabelled_types("The Samsung Smart TV is a perfect fit for the USX Wall Mount.", tv,
                             ("USX Fit Wall Mount", mount[1])) == []
    # the subject is the clause's, not the last name before "is a"; plurals match ("lens" / "Lenses")
    cam = ("Canon EOS Rebel T7 DSLR Camera", "Electronics Camera & Photo Digital Cameras")
    bat = ("Wasabi Power Battery LP-E10", "Electronics Camera & Photo Batteries")
    for right in ("The Wasabi Power Battery for the Canon EOS Rebel T7 is a camera battery.",
                  "The Wasabi Power Battery powers the Canon EOS Rebel T7 and is a spare battery."):
        assert mislabelled_types(right, cam, bat) == []
    assert mislabelled_types("The Canon EOS Rebel T7 is a battery.", cam, bat)
    assert mislabelled_types("The Canon EOS Rebel T7 is a battery pack with 1040mAh.", cam,
                             ("Wasabi Power Battery Packs", bat[1]))
    lens = ("Sony E 18-135mm F3.5-5.6 OSS", "Electronics Camera Lenses")
    a6700 = ("Sony A6700 Mirrorless Camera with 18-135mm Lens", "Electronics Mirrorless Cameras")
    assert mislabelled_types("The Sony E 18-135mm F3.5-5.6 OSS is a zoom lens for the Sony A6700.", a6700, lens) == []
    # what the demo student wrote after 24 LoRA steps on teacher sentences: "is the <type>" of the other item
    cable = ("Apple 240W USB-C Charge Cable (2 m)", "Electronics Computers Cables")
    keyboard = ("Keychron K2 V2 Wireless Mechanical Keyboard", "Electronics Computers Keyboards")
    assert mislabelled_types("The Apple 240W USB-C Charge Cable is the key mechanical keyboard for the Keychron K2 V2 "
                             "Wireless Mechanical Keyboard.", cable, keyboard)
    assert mislabelled_types("The Apple 240W USB-C Charge Cable is the ideal companion for the Keychron K2 V2.",
                             cable, keyboard) == []


def test_a_quoted_purpose_must_be_the_crowds():
    """'Together they serve "<intent>"' is grounded only when the pair's intent says so: the explain-only demo LM
    wrote purposes nobody wrote ('Together they serve "charging and cables."') for recommended pairs."""
    a, b = "Apple MacBook Air 13-inch Laptop", "Apple 240W USB-C Charge Cable"
    made_up = 'The Apple 240W USB-C Charge Cable charges the Apple MacBook Air. Together they serve "charging and cables."'
    assert grounding(made_up, a, b).contradicted == ['quotes "charging and cables.", which is not in the data']
    assert grounding(made_up, a, b, intent="Charging and cables.").grounded


def test_a_fit_claim_must_name_the_pairs_model():
    """A case "for iPhone 14 / iPhone 13" recommended with an iPhone 13 fits the iPhone 13: the demo LM wrote
    "it fits the iPhone 14", a model of the case's title that is not the shopper's phone."""
    phone = {"item_id": "p", "title": "Apple iPhone 13 128GB", "category": ["Phones"], "brand": "Apple"}
    case = {"item_id": "c", "title": "Spigen Tough Armor Case for iPhone 14 / iPhone 13 - Black",
            "category": ["Phone Cases"], "brand": "Spigen"}
    extractor = AttributeExtractor(_catalog([("p", phone["title"], phone["category"], "Apple"),
                                             ("c", case["title"], case["category"], "Spigen")]))
    flags = pair_flags(phone, case, extractor, complementary=True)
    assert "fits iPhone 13" in flags.evidence

    def contradicted(sentence):
        return grounding(sentence, phone["title"], case["title"], extractor, flags=flags).contradicted

    assert contradicted("The Spigen Tough Armor Case protects the Apple iPhone 13: it fits the iPhone 14.") == [
        "fit claimed for iPhone 14, which is not this pair's (fits iPhone 13; made for iPhone)"]
    assert contradicted("The Spigen Tough Armor Case protects the Apple iPhone 13: it fits the iPhone 13.") == []
    assert contradicted("The Spigen case is compatible with the iPhone 13 and the iPhone 14.")
    assert contradicted("Fits the iPhone 14.")
    battery = "EN-EL9 Battery for Nikon D40/D40X/D60/D3000/D5000"  # a model inside a slash list is the camera's
    assert misnamed_fits("The EN-EL9 battery fits the Nikon D40X.", PairFlags(), "Nikon D40X", battery) == []
    assert misnamed_fits("The EN-EL9 battery fits the Nikon D60.", PairFlags(), "Nikon D40X", battery)
    # a fit the evidence does not cover, to the pair's own device, is not a wrong model
    assert misnamed_fits("The AmazonBasics bag fits the Canon EOS Rebel T7.", PairFlags(), "Canon EOS Rebel T7",
                         "AmazonBasics DSLR bag") == []
    assert misnamed_fits("The SanDisk Cruzer Fit 4GB USB goes with the NETGEAR GS108NA Switch.", flags,
                         "NETGEAR GS108NA Switch", "SanDisk Cruzer Fit 4GB USB") == []  # a name, not a claim
    template = grounded_explanation(phone, case, flags)
    assert "fits the iPhone 13" in template and contradicted(template) == []


def test_two_accessories_of_one_device_both_fit_it():
    """A case and a screen protector that both name the iPhone 13: the protector does not fit the case."""
    case = {"item_id": "c", "title": "Apple Silicone Case with MagSafe for iPhone 13", "category": ["Phone Cases"]}
    guard = {"item_id": "g", "title": "amFilm Tempered Glass Screen Protector for iPhone 14 / iPhone 13",
             "category": ["Screen Protectors"]}
    extractor = AttributeExtractor(_catalog([("c", case["title"], case["category"], ""),
                                             ("g", guard["title"], guard["category"], "")]))
    flags = pair_flags(case, guard, extractor, complementary=True)
    sentence = grounded_explanation(case, guard, flags)
    assert sentence.endswith("; both fit the iPhone 13.") and ": it fits" not in sentence
    assert grounding(sentence, case["title"], guard["title"], extractor, flags=flags).grounded


def test_a_brand_in_a_compatibility_phrase_is_a_fit_only_for_that_brands_device():
    """Raters of the demo's explanations flagged "The Neewer LP-E6NH Battery goes with the Canon RF 100-400mm: it is
    made for Canon" (the battery is made for Canon cameras, not for the lens) and "The Anker 313 Wireless Charger
    charges the Apple iPhone 14: it is made for Apple" (a Qi charger listing three makers' phones). The brand stays
    a relevance (the ranking feature is unchanged); the fit wording is kept for the brand's devices."""
    rows = {
        "battery": ("Neewer LP-E6NH Battery (2-Pack) for Canon EOS 90D, Canon EOS R6 Mark II", ["Camera", "Batteries"],
                    "Neewer"),
        "lens": ("Canon RF 100-400mm f/5.6-8 IS USM Telephoto Lens for Canon RF Mount", ["Camera", "Lenses"], "Canon"),
        "camera": ("Canon EOS R6 Mark II 24.2MP Full-Frame Mirrorless Camera (Body Only, Canon RF/RF-S Mount)",
                   ["Camera", "Mirrorless Cameras"], "Canon"),
        "tamron": ("Tamron 28-75mm f/2.8 Di III VXD G2 Zoom Lens for Sony E Mount", ["Camera", "Lenses"], "Tamron"),
        "a7": ("Sony Alpha a7 IV 33MP Full-Frame Mirrorless Camera (Body Only, Sony E Mount)",
               ["Camera", "Mirrorless Cameras"], "Sony"),
        "qi": (("Anker 313 Wireless Charger (Pad), Qi-Certified 10W for iPhone 15, Galaxy S24, Pixel 8 and other "
                "Qi phones"), ["Phone", "Chargers"], "Anker"),
        "phone": ("Apple iPhone 14 6.1-inch Smartphone, Unlocked", ["Phone", "Cell Phones"], "Apple"),
        "cable": ("Apple 240W USB-C Charge Cable (2 m) for iPhone 15, MacBook and USB-C devices",
                  ["Computers", "Chargers & Cables"], "Apple"),
        "macbook": ("Apple MacBook Air 13-inch (M3) Laptop, 13.6-inch macOS", ["Computers", "Laptops"], "Apple"),
    }
    extractor = AttributeExtractor(_catalog([(k, *v) for k, v in rows.items()]))
    row = {k: {"item_id": k, "title": t, "category": c, "brand": b} for k, (t, c, b) in rows.items()}

    def explained(a, b):
        flags = pair_flags(row[a], row[b], extractor, complementary=True)
        sentence = grounded_explanation(row[a], row[b], flags)
        assert grounding(sentence, row[a]["title"], row[b]["title"], extractor, flags=flags).grounded, sentence
        return flags, sentence

    flags, sentence = explained("lens", "battery")
    assert flags.relevant and flags.evidence == ["both go with Canon devices"]
    assert "made for" not in sentence and sentence.endswith("; both go with Canon devices.")
    assert not template_states_reason(row["lens"], row["battery"], flags)
    flags, sentence = explained("camera", "battery")  # the battery's own camera: a fit
    assert flags.evidence == ["fits R6", "made for Canon"] and "powers the Canon EOS R6 Mark II" in sentence
    flags, sentence = explained("qi", "phone")
    assert flags.relevant and flags.evidence == ["lists Apple among others"]
    assert sentence == "The Anker 313 Wireless Charger charges the Apple iPhone 14 Smartphone."
    flags, sentence = explained("cable", "macbook")  # the phrase names the MacBook line, and hedges on the rest
    assert "made for MacBook" in flags.evidence and sentence.endswith(": it is made for MacBook.")
    flags, sentence = explained("a7", "tamron")  # the mount says more than the brand
    assert {"made for Sony", "fits E mount"} <= set(flags.evidence) and sentence.endswith(": it fits the E mount.")


def test_a_cut_off_sentence_is_unfinished():
    """The intent-trained demo LM stopped mid-quote ('Together they serve "finally a perfect fit for the needs of
    both') or after a label ('Together they serve "lenses" (lenses)'); such sentences are never shown."""
    assert unfinished('The Viltrox 23mm Prime goes with the Samsung PRO Plus. Together they serve "finally a perfect')
    assert unfinished('The Nikon Z 26mm goes with the Nikon Z6 II. Together they serve "lenses" (lenses)')
    assert unfinished("The LP-E10 battery powers the Rebel T7: it fits the Kingston Canvas React Plus 64GB SD")
    assert unfinished("The bag (bags goes with the camera.")
    assert not unfinished("The LP-E10 battery powers the Rebel T7: it fits the Rebel T7.")
    assert not unfinished('The bag goes with the camera. Together they serve "travel photography".')
    assert not unfinished('The bag goes with the camera. Together they serve "travel photography."')
    # an inch mark is not an open quote; a quote closed after a figure still closes
    assert not unfinished('The Dell XPS 13.4" Laptop goes with the Logitech MX Master 3S mouse.')
    assert not unfinished('The Amazon Basics Laptop Sleeve protects the Acer Chromebook 315 15.6".')
    assert not unfinished('The sleeve goes with the laptop. Together they serve "a laptop of 13.3".')
    assert not unfinished('The Seiko SNKL07 "Seiko 5" goes with the Casio AE1000W. Together they serve "iPhone 14" owners.')
    assert not unfinished('Together they serve "travel photography." The bag fits the camera.')
    assert unfinished('The sleeve fits the 13.3" laptop. Together they serve "a laptop for work.')


def test_short_name_keeps_what_the_item_is():
    """A cut keeps an accessory's kind noun (once shown as "Sanus Advanced Tilt 4D TV", a TV for a wall mount)."""
    assert short_name("Sanus Advanced Tilt 4D TV Wall Mount for 42-90 inch TVs") == "Sanus Advanced Tilt 4D Mount"
    assert short_name("Nikon LC-52 Snap on Front Lens Cap") == "Nikon LC-52 Snap Lens Cap"
    assert short_name("Pentax Q 12.4 MP CMOS Replacement Battery") == "Pentax Q 12.4 MP CMOS"  # no number without its unit
    # a model number, focal length or size is not dropped for the noun, nor are more than two words
    assert short_name("Canon EOS Rebel T7 DSLR Camera 18-55mm Lens") == "Canon EOS Rebel T7 DSLR"
    assert short_name("Nikon NIKKOR Z DX 16-50mm f/3.5-6.3 VR Lens") == "Nikon NIKKOR Z DX 16-50mm"
    assert short_name("Amazon Basics 13 inch Laptop Sleeve Case") == "Amazon Basics 13 inch Laptop"
    assert short_name("SanDisk 128GB Extreme PRO SDXC UHS-I Memory Card") == "SanDisk 128GB Extreme PRO SDXC"
    assert short_name("HDMI 3 Port Gold Platted Switch Switcher w/ IR Remote") == "HDMI 3 Port Gold Platted"
    assert short_name("Apple iPhone 15 Pro Max 6.7-inch Smartphone, Unlocked") == "Apple iPhone 15 Pro Max"
    assert short_name("Amazon Basics Large Camera Bag Backpack") == "Amazon Basics Large Camera Bag"
    assert short_name("SanDisk Cruzer 4GB USB 2.0 Flash Drive") == "SanDisk Cruzer 4GB USB 2.0"


def test_short_names_leave_no_mark_open():
    """Real titles cut inside a quote or after a stray parenthesis made templates fail their own check."""
    assert short_name('Lipo in a Box "Original Bag Fits All"') == "Lipo in a Box Bag"
    assert short_name('2) HIFONICS HFX12D4 12" 1600W Subwoofer') == '2 HIFONICS HFX12D4 12" 1600W'
    assert short_name('Dell XPS 13.4" Laptop') == 'Dell XPS 13.4" Laptop'
    for title in ('Lipo in a Box "Original Bag Fits All"', '2) HIFONICS HFX12D4 12" 1600W Subwoofer'):
        assert not unfinished(f"The {short_name(title)} goes with the Pioneer receiver.")


def test_grounding_rejects_a_cut_off_sentence():
    """Gemma-3-270M, as a distillation teacher, stopped at "The Sony E 18-": it names both items and adds
    nothing, but what it would have said is unknown."""
    lens, camera = "Sony E 18-135mm F3.5-5.6 OSS Lens", "Sony A6700 26MP APS-C Mirrorless Camera"
    assert not grounding("The Sony E 18-", camera, lens).grounded
    assert grounding("The Sony E 18-", camera, lens).cut_off
    assert grounding("The Sony E 18-135mm lens goes with the Sony A6700 camera.", camera, lens).grounded


def test_a_function_neither_item_can_serve_is_contradicted():
    """What the demo student wrote after 60 steps on the teacher's sentences, and what the teacher wrote."""
    battery, camera = "Canon LP-E10 Rechargeable Lithium-Ion Battery Pack", "Canon EOS Rebel T7 24.1MP APS-C DSLR"
    categories = ("Electronics Camera & Photo Batteries", "Electronics Camera & Photo Digital Cameras")
    wrong = ("The Canon LP-E10 Rechargeable Lithium-Ion Battery is useful with the Canon EOS Rebel T7 for a convenient "
             "and portable storage solution.")
    assert grounding(wrong, battery, camera, categories=categories).contradicted == [
        "claims storage, which neither item provides"]
    assert grounding("The Canon LP-E10 Battery keeps the Canon EOS Rebel T7 charged for a long shoot.", battery, camera,
                     categories=categories).grounded
    headphones, phone = "JBL Tune 510BT Wireless On-Ear Headphones", "Apple iPhone 14 6.1-inch Smartphone"
    assert unsupported_functions("The JBL Tune 510BT is useful with the Apple iPhone 14 for screen protection.",
                                 f"{headphones} {phone}") == ["claims protection, which neither item provides"]
    card = "SanDisk 64GB Extreme SDXC UHS-I Memory Card"
    assert unsupported_functions("The SanDisk card stores the photos of the Canon EOS Rebel T7.", f"{card} {camera}") == []
    # a template repeats what a title says of itself (electronic's "…Accident Protection Plan")
    plan = "4-Year Camera/Camcorder Accident Protection Plan"
    assert unsupported_functions(f"The Nikon WU-1a Wireless Mobile Adapter goes with the {plan}.",
                                 f"Nikon WU-1a Wireless Mobile Adapter {plan}") == []


def test_leaf_tags_a_teacher_copies_are_removed_and_other_brackets_stay():
    from eccr.coherence import without_category_tags

    sentence = "The Right Angle VGA Cable [Connectors & Adapters] and the Anker Hub [2 Pack] [usb hubs] work together."
    assert without_category_tags(sentence, ("Connectors & Adapters", "USB Hubs")) == \
        "The Right Angle VGA Cable and the Anker Hub [2 Pack] work together."
    assert without_category_tags(sentence, ("", "Cables")) == sentence
    assert without_category_tags("The Jackery Charger [External Battery Pack] charges it.", ("External Battery Packs",)) \
        == "The Jackery Charger charges it."
    assert without_category_tags("The Sony Glass [Lenses] fits.", ("Lens",)) == "The Sony Glass fits."
    assert without_category_tags("The USX Wall Mount for [Mounts] is useful with the HDMI Cable [HDMI Cables] here.",
                                 ("Mounts", "HDMI Cables")) == "The USX Wall Mount is useful with the HDMI Cable here."
