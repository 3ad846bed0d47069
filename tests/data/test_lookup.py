"""eccr.data.lookup: free text resolves to the item it names."""
import pandas as pd
import pytest

from eccr.data.lookup import ItemLookup
from eccr.data.schema import Catalog


def _lookup(titles: list[str]) -> ItemLookup:
    ids = [f"I{n}" for n in range(len(titles))]
    return ItemLookup(Catalog(pd.DataFrame({"item_id": ids, "title": titles, "category": [["Electronics"]] * len(ids),
                                            "brand": "", "text": ""})), ids)


def test_free_text_resolves_to_the_item_it_names_not_an_accessory_for_it():
    lookup = _lookup(["Anker 735 Charger (Nano II 65W) for iPhone 15, MacBook Air, Dell XPS 13",
                      "Apple Silicone Case with MagSafe for iPhone 13",
                      "Dell XPS 13 9315 Laptop, 13.4-inch Windows",
                      "Apple iPhone 13 6.1-inch Smartphone, Unlocked"])
    assert lookup.resolve("Dell XPS 13") == "I2"
    assert lookup.resolve("apple iphone 13") == "I3"
    assert lookup.resolve("iPhone 13 case") == "I1"  # only the case has every word
    assert lookup.resolve("I0") == "I0" and lookup.resolve("Apple iPhone 13 6.1-inch Smartphone, Unlocked") == "I3"
    assert [i for i, _ in lookup.search("13")] == ["I0", "I1", "I2", "I3"]  # search lists in catalogue order
    with pytest.raises(KeyError):
        lookup.resolve("   ")  # blank text names no item
