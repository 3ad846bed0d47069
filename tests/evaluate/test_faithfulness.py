"""The independent hallucination / specificity measure of explanations (issue #10 B), on the issue's examples."""
import pytest

from eccr.evaluate.faithfulness import (
    PairContext,
    faithfulness,
    faithfulness_markdown,
    hallucinated_claims,
    masked,
    names_item,
    titles_only,
    type_words,
)

CAM = "Canon EOS Rebel T7 DSLR Camera with 18-55mm Lens"
BAT = "Wasabi Power LP-E10 Battery for Canon EOS Rebel T7"
CARD = "SanDisk 64GB Extreme SDXC UHS-I Memory Card"
IPHONE = "Apple iPhone 13, 128GB, Midnight - Unlocked (Renewed)"
PROTECTOR = "Ailun Glass Screen Protector for iPhone 13 / 13 Pro 6.1-inch Display (3 Pack)"
BLUEBERRY = ("The Apple iPhone 13 goes with the Blueberry 2 Pack for a complimentary 6.1-inch Smartphone and Unlocked "
             "1.5-inch Glass Screen Protector (2 Pack)")  # the demo LM's sentence quoted in issue #10


@pytest.mark.parametrize("sentence, a, b, claim", [
    ("The SanDisk 128GB card records 4K video for the Canon T7.", CAM, CARD, "128GB"),
    ("The SanDisk 128GB card records 4K video for the Canon T7.", CAM, CARD, "4K"),
    ("The 400W SanDisk card goes with the Canon T7.", CAM, CARD, "400W"),
    ("Sony recommends the SanDisk card for the Canon T7.", CAM, CARD, "Sony"),
    (BLUEBERRY, IPHONE, PROTECTOR, "Blueberry"),
    (BLUEBERRY, IPHONE, PROTECTOR, "1.5-inch"),
    ("The 25 Piece Lens Pack for the Canon 400mm SLR camera goes with the Rebel T7.", CAM, BAT, "400mm"),
    ("The Wasabi battery does not fit the Canon EOS Rebel T7.", CAM, BAT, "denies a fit"),
    ('The Wasabi battery powers the Canon T7. Shoppers bought them together for "Photography".', CAM, BAT,
     "says shoppers bought the pair"),
    # a type the demo's 200-step LM guessed for an item its prompt gave no category for
    ("The Apple AirPods Pro (bags) goes with the Anker 313 Wireless Charger.", "Apple AirPods Pro (2nd Generation)",
     "Anker 313 Wireless Charger Pad", "(bags)"),
    # a purpose the explain-only demo LM made up for a pair nobody described
    ('The Nikon Z 26mm Pancake (lenses) goes with the Nikon Z6 II. Together they serve "Kodak K200 lovers".',
     "Nikon Z6 II Full-Frame Mirrorless", "Nikon NIKKOR Z 26mm f/2.8 Pancake Lens", '"Kodak K200 lovers"'),
])
def test_the_issue_examples_are_hallucinated_claims(sentence, a, b, claim):
    assert claim in hallucinated_claims(sentence, a, b)


def test_supported_figures_fit_claims_and_bought_pairs_are_not_claims():
    assert hallucinated_claims("The Wasabi Power LP-E10 Battery powers the Canon EOS Rebel T7: it fits the T7.",
                               CAM, BAT) == []
    assert hallucinated_claims("The SanDisk 64 GB card (memory cards) stores the photos of the Canon T7.", CAM, CARD,
                               categories="Camera Memory Cards") == []
    assert hallucinated_claims("The Wasabi battery (batteries) powers the Canon EOS Rebel T7 (dslr camera).", CAM, BAT,
                               categories="Camera & Photo Batteries") == []
    assert hallucinated_claims("The Ailun protector covers the 6.1-inch screen of the iPhone 13 Pro.", IPHONE,
                               PROTECTOR) == []
    assert "claims a fit the flags contradict" in hallucinated_claims("The Canon RF lens fits the Rebel T7.",
                                                                       CAM, "Canon RF 24-105mm Lens",
                                                                       incompatible=True)
    assert hallucinated_claims("The SanDisk Cruzer Fit 4GB drive goes with the Canon EOS Rebel T7.", CAM,
                               "SanDisk Cruzer Fit 4GB USB Flash Drive", incompatible=True) == []  # a name
    assert hallucinated_claims("The Wasabi battery Fits The Canon EOS Rebel T7.", CAM, BAT, incompatible=True)
    # an inch mark does not open a quoted phrase
    assert hallucinated_claims('The Logitech K800 goes with the ASUS T100TA 10.1". Together they serve "Logitech".',
                               "Logitech K800 keyboard", 'ASUS T100TA 10.1" tablet') == []
    text = "Shoppers bought them together."
    assert hallucinated_claims(text, CAM, BAT) and not hallucinated_claims(text, CAM, BAT, bought_together=True)


LEAVES = ["Camera Lenses", "Camera Batteries", "Memory Cards", "Camera Bags & Cases", "Printer Ink & Toner",
          "Printers", "Remote Controls", "TV Ceiling & Wall Mounts", "T-Shirts", "Walking"]


def test_the_type_vocabulary_is_the_leaves_plural_head_nouns_in_both_numbers():
    types = type_words(LEAVES)
    assert {"lens", "lenses", "battery", "batteries", "cards", "card", "bags", "cases", "printer", "shirt"} <= types
    # not heads, singular heads (a modifier, a mass noun, an activity) or verbs of a reason
    assert not {"camera", "memory", "ink", "toner", "ceiling", "walking", "controls", "mounts"} & types


def test_a_reason_about_a_type_neither_item_is_a_hallucinated_claim():
    ink = "Epson T522 EcoFit Black Ink Bottle for Epson EcoTank ET-2800"
    printer = "Epson EcoTank ET-2800 Wireless Cartridge-Free Supertank Printer"
    types = type_words(LEAVES)
    sentence = f"The {ink} is useful with the {printer} for storage and a second lens."  # the distilled student
    assert hallucinated_claims(sentence, ink, printer, types=types) == ["names a type neither item is: lens"]
    assert hallucinated_claims(sentence, ink, printer) == []  # no vocabulary, no check
    assert hallucinated_claims("The Wasabi batteries power the Canon T7 and its lenses.", CAM, BAT, types=types) == []
    assert hallucinated_claims("The Wasabi battery goes with the Canon T7 and a spare card.", CAM, BAT, types=types) == \
        ["names a type neither item is: card"]
    # a part of the item named next ("the lens of"), a word inside a hyphenated one ("T-rex" is no "rex")
    uv, body = "B+W 62mm XS-Pro Clear UV Filter", "Canon EOS 7D DSLR Camera Body"
    assert hallucinated_claims(f"The {uv} protects the lens of the {body}.", body, uv, types=types) == []
    tee = "Graphic T-Shirt with a T-rex"
    assert hallucinated_claims(f"The {tee} goes with the Canon EOS 7D.", body, tee, types=types) == []
    remote = "Canon BR-E1 Wireless Remote Control"
    assert hallucinated_claims("The Canon BR-E1 remote controls the Canon EOS Rebel T7.", CAM, remote, types=types) == []


def test_names_masking_and_the_titles_only_reference():
    assert names_item("The Wasabi battery powers it.", BAT) and not names_item("The battery powers it.", CAM)
    assert masked("The Wasabi Power LP-E10 Battery powers the Canon EOS Rebel T7.", CAM, BAT) == \
        "the _ powers the _"
    assert titles_only(CAM, BAT) == "Wasabi Power LP-E10 Battery goes with Canon EOS Rebel T7."


def test_summary_scores_a_fill_in_template_low_on_masked_distinctness():
    pairs = [PairContext(CAM, BAT), PairContext(IPHONE, PROTECTOR), PairContext(CAM, CARD)]
    fill_in = [titles_only(p.title_a, p.title_b) for p in pairs]
    own = ["The Wasabi Power battery keeps the Canon T7 shooting all day.",
           "The Ailun Glass Screen Protector guards the iPhone 13 display from scratches.",
           "The SanDisk 512GB card holds hours of Canon video."]
    ref, mine = faithfulness(fill_in, pairs), faithfulness(own, pairs)
    assert ref.names_both == 1.0 and ref.hallucinated == 0.0 and ref.masked_distinct == pytest.approx(1 / 3)
    assert mine.masked_distinct == 1.0 and mine.hallucinated == pytest.approx(1 / 3)
    assert mine.examples[0]["claims"] == ["512GB"]
    assert faithfulness(["", ""], pairs[:2]).n == 0
    table = faithfulness_markdown({"titles only": ref.as_dict(), "LM": mine.as_dict(), "none": None})
    assert "| titles only | 3 | 1.000 | 0.000 | 0.333 |" in table and "none" not in table


def test_the_explanation_report_of_eccr_evaluate_has_the_faithfulness_table(tiny_run):
    from eccr.jobs.evaluate import explanation_markdown, explanation_report
    from eccr.pipeline import Recommender
    from eccr.run import split_dataset

    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    _, split = split_dataset(rec.run_config)
    report = explanation_report(rec, split, 12)
    assert report["pairs"] > 0 and report["shown"]["sources"] == {"lm": 0, "template": report["pairs"]}
    table = report["faithfulness"]
    assert set(table) == {"shown", "raw LM", "template", "titles only"} and table["raw LM"]["n"] == 0
    assert table["shown"] == table["template"] and table["shown"]["n"] == report["pairs"]
    assert table["template"]["masked_distinct"] > table["titles only"]["masked_distinct"]
    assert "| titles only |" in explanation_markdown(report)
    assert len(report["sentences"]) == report["pairs"] and report["type_words"]


def test_a_fit_to_a_model_only_one_title_names_is_hallucinated():
    phone, case = "Apple iPhone 13 128GB", "Spigen Tough Armor Case for iPhone 14 / iPhone 13 - Black"
    assert hallucinated_claims("The Spigen Tough Armor Case protects the Apple iPhone 13: it fits the iPhone 14.",
                               phone, case) == ["claims a fit to 'the iPhone 14', which one title lists and the other lacks"]
    assert hallucinated_claims("The Spigen Tough Armor Case protects the Apple iPhone 13: it fits the iPhone 13.",
                               phone, case) == []
    # a capitalised "Fit" inside a product name is not a claim
    assert hallucinated_claims("The SanDisk Cruzer Fit 4GB USB goes with the NETGEAR GS108NA ProSafe 8-Port Gigabit.",
                               "NETGEAR GS108NA ProSafe 8-Port Gigabit Ethernet Desktop Switch",
                               "SanDisk Cruzer Fit 4GB USB 2.0 Low-Profile Flash Drive") == []
    assert hallucinated_claims("Fits the iPhone 14.", phone, case)
    battery = "EN-EL9 Battery for Nikon D40/D40X/D60/D3000/D5000"
    assert hallucinated_claims("The EN-EL9 Battery fits the Nikon D40X.", "Nikon D40X", battery) == []
    assert hallucinated_claims("The EN-EL9 Battery fits the Nikon D60.", "Nikon D40X", battery)
