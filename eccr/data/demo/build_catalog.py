"""Writes the embedded demo catalogue, `catalog.csv`, from the product facts listed below.

Run `python -m eccr.data.demo.build_catalog` after editing a table here; the CSV is committed and read at run
time, so nothing is generated (and nothing is random) at import. The product facts are ordinary public
specifications (which battery a camera body takes, which ink a printer uses, which consoles read discs),
written by us for this project; no row comes from a research data set.

Compatibility is derived, not typed twice: a device offers tags ("battery:LP-E10", "mount:canon-rf",
"port:usb-c", "size:55"), an accessory states which tags it needs, and its `fits` column lists the item ids of
every device that offers one of them. An accessory with an empty `fits` is universal (a camera bag, an HDMI
cable). The release month (0 = January 2023, the window runs 18 months) is the real launch month where the
product launched inside the window, else 0; accessories tied to devices appear when their first device does.
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CATALOG_FILE = Path(__file__).with_name("catalog.csv")
CSV_COLUMNS = ("item_id", "title", "category", "brand", "text", "product_type", "role", "model", "fits",
               "release_month")

CATEGORY_OF_TYPE = {
    "camera": ("Electronics", "Camera & Photo", "Digital Cameras"),
    "lens": ("Electronics", "Camera & Photo", "Lenses"),
    "camera battery": ("Electronics", "Camera & Photo", "Accessories", "Batteries"),
    "memory card": ("Electronics", "Computers & Accessories", "Memory Cards"),
    "camera bag": ("Electronics", "Camera & Photo", "Bags & Cases"),
    "tripod": ("Electronics", "Camera & Photo", "Tripods & Monopods"),
    "phone": ("Electronics", "Cell Phones & Accessories", "Cell Phones"),
    "phone case": ("Electronics", "Cell Phones & Accessories", "Cases"),
    "screen protector": ("Electronics", "Cell Phones & Accessories", "Screen Protectors"),
    "charger": ("Electronics", "Cell Phones & Accessories", "Chargers & Cables"),
    "laptop": ("Electronics", "Computers & Accessories", "Laptops"),
    "laptop sleeve": ("Electronics", "Computers & Accessories", "Laptop Accessories", "Sleeves"),
    "mouse": ("Electronics", "Computers & Accessories", "Keyboards & Mice", "Mice"),
    "keyboard": ("Electronics", "Computers & Accessories", "Keyboards & Mice", "Keyboards"),
    "printer": ("Electronics", "Computers & Accessories", "Printers"),
    "ink cartridge": ("Electronics", "Computers & Accessories", "Printer Ink & Toner"),
    "game console": ("Video Games", "Consoles"),
    "controller": ("Video Games", "Accessories", "Controllers"),
    "video game": ("Video Games", "Games"),
    "tv": ("Electronics", "Television & Video", "Televisions"),
    "tv wall mount": ("Electronics", "Television & Video", "Mounts"),
    "hdmi cable": ("Electronics", "Television & Video", "Cables", "HDMI Cables"),
    "soundbar": ("Electronics", "Television & Video", "Home Audio", "Soundbars"),
    "headphones": ("Electronics", "Headphones"),
    "headphone case": ("Electronics", "Headphones", "Cases"),
}


@dataclass
class Product:
    product_type: str
    brand: str
    title: str
    text: str
    model: str = ""                                  # short model name of a device ("EOS Rebel T7")
    tags: frozenset[str] = frozenset()              # what a device offers to accessories
    needs: frozenset[str] | None = None             # accessory: tags it fits; None = universal
    release_month: int = 0
    fits: list[str] = field(default_factory=list)   # filled in by `_resolve_fits`
    item_id: str = ""

    @property
    def role(self) -> str:
        return "device" if self.needs is None and self.tags else "accessory"


def _device(ptype, brand, model, text, tags, release=0) -> Product:
    return Product(ptype, brand, f"{brand} {model}", text, model=model, tags=frozenset(tags), release_month=release)


def _accessory(ptype, brand, title, text, needs=None, release=0) -> Product:
    return Product(ptype, brand, title, text, needs=None if needs is None else frozenset(needs),
                   release_month=release)


# ---------------------------------------------------------------- cameras, lenses, batteries, cards
# (brand, model, kind, megapixels, sensor, mounts offered, battery, card slots, release month)
CAMERAS = [
    ("Canon", "EOS Rebel T7", "DSLR", 24.1, "APS-C", ("canon-ef-s", "canon-ef"), "LP-E10", ("sd",), 0),
    ("Canon", "EOS Rebel T6", "DSLR", 18.0, "APS-C", ("canon-ef-s", "canon-ef"), "LP-E10", ("sd",), 0),
    ("Canon", "EOS Rebel T8i", "DSLR", 24.1, "APS-C", ("canon-ef-s", "canon-ef"), "LP-E17", ("sd",), 0),
    ("Canon", "EOS Rebel SL3", "DSLR", 24.1, "APS-C", ("canon-ef-s", "canon-ef"), "LP-E17", ("sd",), 0),
    ("Canon", "EOS 90D", "DSLR", 32.5, "APS-C", ("canon-ef-s", "canon-ef"), "LP-E6NH", ("sd",), 0),
    ("Canon", "EOS R50", "Mirrorless Camera", 24.2, "APS-C", ("canon-rf", "canon-rf-s"), "LP-E17", ("sd",), 3),
    ("Canon", "EOS R100", "Mirrorless Camera", 24.1, "APS-C", ("canon-rf", "canon-rf-s"), "LP-E17", ("sd",), 0),
    ("Canon", "EOS R8", "Mirrorless Camera", 24.2, "Full-Frame", ("canon-rf", "canon-rf-s"), "LP-E17",
     ("sd",), 3),
    ("Canon", "EOS R6 Mark II", "Mirrorless Camera", 24.2, "Full-Frame", ("canon-rf", "canon-rf-s"),
     "LP-E6NH", ("sd",), 0),
    ("Nikon", "D3500", "DSLR", 24.2, "APS-C", ("nikon-f",), "EN-EL14a", ("sd",), 0),
    ("Nikon", "D5600", "DSLR", 24.2, "APS-C", ("nikon-f",), "EN-EL14a", ("sd",), 0),
    ("Nikon", "D7500", "DSLR", 20.9, "APS-C", ("nikon-f",), "EN-EL15c", ("sd",), 0),
    ("Nikon", "Z50", "Mirrorless Camera", 20.9, "APS-C", ("nikon-z",), "EN-EL25", ("sd",), 0),
    ("Nikon", "Z30", "Mirrorless Camera", 20.9, "APS-C", ("nikon-z",), "EN-EL25", ("sd",), 0),
    ("Nikon", "Z fc", "Mirrorless Camera", 20.9, "APS-C", ("nikon-z",), "EN-EL25", ("sd",), 0),
    ("Nikon", "Z5", "Mirrorless Camera", 24.3, "Full-Frame", ("nikon-z",), "EN-EL15c", ("sd",), 0),
    ("Nikon", "Z6 II", "Mirrorless Camera", 24.5, "Full-Frame", ("nikon-z",), "EN-EL15c",
     ("sd", "cfexpress-b"), 0),
    ("Nikon", "Z f", "Mirrorless Camera", 24.5, "Full-Frame", ("nikon-z",), "EN-EL15c", ("sd",), 9),
    ("Sony", "Alpha a6100", "Mirrorless Camera", 24.2, "APS-C", ("sony-e",), "NP-FW50", ("sd",), 0),
    ("Sony", "Alpha a6400", "Mirrorless Camera", 24.2, "APS-C", ("sony-e",), "NP-FW50", ("sd",), 0),
    ("Sony", "ZV-E10", "Mirrorless Vlog Camera", 24.2, "APS-C", ("sony-e",), "NP-FW50", ("sd",), 0),
    ("Sony", "Alpha a6700", "Mirrorless Camera", 26.0, "APS-C", ("sony-e",), "NP-FZ100", ("sd",), 6),
    ("Sony", "Alpha a7 III", "Mirrorless Camera", 24.2, "Full-Frame", ("sony-e",), "NP-FZ100",
     ("sd",), 0),
    ("Sony", "Alpha a7 IV", "Mirrorless Camera", 33.0, "Full-Frame", ("sony-e",), "NP-FZ100",
     ("sd", "cfexpress-a"), 0),
    ("Sony", "ZV-E1", "Vlog Camera", 12.1, "Full-Frame", ("sony-e",), "NP-FZ100", ("sd",), 3),
    ("Fujifilm", "X-T30 II", "Mirrorless Camera", 26.1, "APS-C", ("fuji-x",), "NP-W126S", ("sd",), 0),
    ("Fujifilm", "X-S10", "Mirrorless Camera", 26.1, "APS-C", ("fuji-x",), "NP-W126S", ("sd",), 0),
    ("Fujifilm", "X-T5", "Mirrorless Camera", 40.2, "APS-C", ("fuji-x",), "NP-W235", ("sd",), 0),
    ("Fujifilm", "X-S20", "Mirrorless Camera", 26.1, "APS-C", ("fuji-x",), "NP-W235", ("sd",), 5),
    ("Panasonic", "Lumix G7", "Mirrorless Camera", 16.0, "Micro Four Thirds", ("mft",), "DMW-BLC12", ("sd",), 0),
    ("Panasonic", "Lumix GH6", "Mirrorless Camera", 25.2, "Micro Four Thirds", ("mft",), "DMW-BLK22",
     ("sd", "cfexpress-b"), 0),
    ("Panasonic", "Lumix G9 II", "Mirrorless Camera", 25.2, "Micro Four Thirds", ("mft",), "DMW-BLK22",
     ("sd",), 10),
    ("OM System", "OM-D E-M10 Mark IV", "Mirrorless Camera", 20.3, "Micro Four Thirds", ("mft",), "BLS-50",
     ("sd",), 0),
]
MOUNT_NAMES = {"canon-ef": "Canon EF", "canon-ef-s": "Canon EF-S", "canon-rf": "Canon RF", "canon-rf-s": "Canon RF-S",
               "nikon-f": "Nikon F", "nikon-z": "Nikon Z", "sony-e": "Sony E", "fuji-x": "Fujifilm X",
               "mft": "Micro Four Thirds"}

# (battery code, maker of the original, (third-party brands))
BATTERIES = [
    ("LP-E10", "Canon", ("Wasabi Power", "Powerextra")),
    ("LP-E17", "Canon", ("Wasabi Power", "Neewer")),
    ("LP-E6NH", "Canon", ("Neewer", "SmallRig")),
    ("EN-EL14a", "Nikon", ("Wasabi Power", "Powerextra")),
    ("EN-EL15c", "Nikon", ("SmallRig", "Neewer")),
    ("EN-EL25", "Nikon", ("Wasabi Power", "Kastar")),
    ("NP-FW50", "Sony", ("Wasabi Power", "Neewer")),
    ("NP-FZ100", "Sony", ("SmallRig", "Powerextra")),
    ("NP-W126S", "Fujifilm", ("Wasabi Power", "Kastar")),
    ("NP-W235", "Fujifilm", ("SmallRig", "Neewer")),
    ("DMW-BLC12", "Panasonic", ("Wasabi Power", "Powerextra")),
    ("DMW-BLK22", "Panasonic", ("SmallRig", "Kastar")),
    ("BLS-50", "OM System", ("Wasabi Power", "Kastar")),
]

# (brand, lens name, mount needed, release month)
LENSES = [
    ("Canon", "EF-S 18-55mm f/4-5.6 IS STM Zoom Lens", "canon-ef-s", 0),
    ("Canon", "EF 50mm f/1.8 STM Prime Lens", "canon-ef", 0),
    ("Canon", "EF-S 10-18mm f/4.5-5.6 IS STM Wide-Angle Lens", "canon-ef-s", 0),
    ("Canon", "EF 75-300mm f/4-5.6 III Telephoto Zoom Lens", "canon-ef", 0),
    ("Sigma", "18-35mm f/1.8 DC HSM Art Lens", "canon-ef", 0),
    ("Canon", "RF 50mm f/1.8 STM Prime Lens", "canon-rf", 0),
    ("Canon", "RF 24-105mm f/4-7.1 IS STM Zoom Lens", "canon-rf", 0),
    ("Canon", "RF-S 18-45mm f/4.5-6.3 IS STM Zoom Lens", "canon-rf-s", 0),
    ("Canon", "RF 100-400mm f/5.6-8 IS USM Telephoto Lens", "canon-rf", 0),
    ("Nikon", "AF-P DX NIKKOR 70-300mm f/4.5-6.3G ED VR Lens", "nikon-f", 0),
    ("Nikon", "AF-S DX NIKKOR 35mm f/1.8G Lens", "nikon-f", 0),
    ("Nikon", "AF-S NIKKOR 50mm f/1.8G Lens", "nikon-f", 0),
    ("Tamron", "18-400mm f/3.5-6.3 Di II VC HLD All-in-One Zoom Lens", "nikon-f", 0),
    ("Nikon", "NIKKOR Z 24-70mm f/4 S Lens", "nikon-z", 0),
    ("Nikon", "NIKKOR Z 40mm f/2 Lens", "nikon-z", 0),
    ("Nikon", "NIKKOR Z DX 16-50mm f/3.5-6.3 VR Lens", "nikon-z", 0),
    ("Nikon", "NIKKOR Z 26mm f/2.8 Pancake Lens", "nikon-z", 7),
    ("Sony", "E 18-135mm f/3.5-5.6 OSS Zoom Lens", "sony-e", 0),
    ("Sony", "FE 50mm f/1.8 Prime Lens", "sony-e", 0),
    ("Sony", "FE 28-60mm f/4-5.6 Compact Zoom Lens", "sony-e", 0),
    ("Sigma", "16mm f/1.4 DC DN Contemporary Lens", "sony-e", 0),
    ("Tamron", "28-75mm f/2.8 Di III VXD G2 Zoom Lens", "sony-e", 0),
    ("Fujifilm", "XF 35mm f/2 R WR Prime Lens", "fuji-x", 0),
    ("Fujifilm", "XF 18-55mm f/2.8-4 R LM OIS Zoom Lens", "fuji-x", 0),
    ("Viltrox", "23mm f/1.4 AF Prime Lens", "fuji-x", 0),
    ("Panasonic", "Lumix G 25mm f/1.7 ASPH Prime Lens", "mft", 0),
    ("Olympus", "M.Zuiko Digital ED 45mm f/1.8 Lens", "mft", 0),
    ("Panasonic", "Lumix G Vario 14-140mm f/3.5-5.6 Zoom Lens", "mft", 0),
]

# (brand, card name, card format needed)
MEMORY_CARDS = [
    ("SanDisk", "64GB Extreme SDXC UHS-I Memory Card, V30, 170MB/s", "sd"),
    ("SanDisk", "128GB Extreme PRO SDXC UHS-I Memory Card, V30, 200MB/s", "sd"),
    ("Lexar", "128GB Professional 1066x SDXC UHS-I Card SILVER Series", "sd"),
    ("Samsung", "PRO Plus 128GB SDXC UHS-I Memory Card, U3 V30", "sd"),
    ("Kingston", "Canvas React Plus 64GB SDXC UHS-II Card, V90", "sd"),
    ("Sony", "TOUGH SF-G 64GB SDXC UHS-II Card, V90", "sd"),
    ("PNY", "Elite-X 64GB SDXC Flash Memory Card, U3 V30", "sd"),
    ("SanDisk", "256GB microSDXC Card Licensed for Nintendo Switch", "microsd"),
    ("Samsung", "EVO Select 128GB microSDXC Memory Card with Adapter", "microsd"),
    ("SanDisk", "128GB Extreme microSDXC UHS-I Card, A2, 190MB/s", "microsd"),
    ("Lexar", "PLAY 512GB microSDXC UHS-I Card", "microsd"),
    ("SanDisk", "128GB Extreme PRO CFexpress Type B Card", "cfexpress-b"),
    ("Lexar", "256GB Professional CFexpress Type B Card GOLD Series", "cfexpress-b"),
    ("Sony", "TOUGH CEA-G 80GB CFexpress Type A Memory Card", "cfexpress-a"),
]
CARD_NAMES = {"sd": "SD", "microsd": "microSD", "cfexpress-b": "CFexpress Type B", "cfexpress-a": "CFexpress Type A"}

CAMERA_BAGS = [
    ("Lowepro", "Nova Sport 7L AW Camera Shoulder Bag"),
    ("Peak Design", "Everyday Sling 6L Camera Bag"),
    ("Amazon Basics", "Large DSLR Camera Gadget Bag"),
    ("Case Logic", "DCB-306 SLR Camera Bag"),
    ("Think Tank Photo", "Mirrorless Mover 20 Camera Bag"),
    ("Tenba", "DNA 8 Messenger Bag for Mirrorless Cameras"),
    ("Lowepro", "ProTactic BP 350 AW II Camera Backpack"),
    ("K&F Concept", "Camera Backpack with Rain Cover and 15.6 inch Laptop Compartment"),
]
TRIPODS = [
    ("Manfrotto", "Compact Action Aluminium Tripod with Hybrid Head"),
    ("Joby", "GorillaPod 3K Kit Flexible Camera Tripod"),
    ("Amazon Basics", "60-Inch Lightweight Camera Tripod with Bag"),
    ("Peak Design", "Travel Tripod Aluminum"),
    ("K&F Concept", "64 inch Camera Tripod with 360 Degree Ball Head"),
    ("Ulanzi", "MT-44 Extendable Mini Tripod with Phone Holder"),
    ("UBeesize", "67 inch Phone and Camera Tripod with Wireless Remote"),
    ("Vanguard", "VEO 3GO 235AB Travel Tripod"),
]

# ---------------------------------------------------------------- phones and their accessories
# (brand, model, screen inches, port, has microSD slot, wireless charging, MagSafe, release month)
PHONES = [
    ("Apple", "iPhone SE (3rd generation)", 4.7, "lightning", False, True, False, 0),
    ("Apple", "iPhone 13", 6.1, "lightning", False, True, True, 0),
    ("Apple", "iPhone 14", 6.1, "lightning", False, True, True, 0),
    ("Apple", "iPhone 14 Pro", 6.1, "lightning", False, True, True, 0),
    ("Apple", "iPhone 14 Pro Max", 6.7, "lightning", False, True, True, 0),
    ("Apple", "iPhone 15", 6.1, "usb-c", False, True, True, 8),
    ("Apple", "iPhone 15 Plus", 6.7, "usb-c", False, True, True, 8),
    ("Apple", "iPhone 15 Pro", 6.1, "usb-c", False, True, True, 8),
    ("Apple", "iPhone 15 Pro Max", 6.7, "usb-c", False, True, True, 8),
    ("Samsung", "Galaxy S23", 6.1, "usb-c", False, True, False, 1),
    ("Samsung", "Galaxy S23 Ultra", 6.8, "usb-c", False, True, False, 1),
    ("Samsung", "Galaxy S24", 6.2, "usb-c", False, True, False, 12),
    ("Samsung", "Galaxy S24 Ultra", 6.8, "usb-c", False, True, False, 12),
    ("Samsung", "Galaxy A54 5G", 6.4, "usb-c", True, False, False, 3),
    ("Samsung", "Galaxy Z Flip5", 6.7, "usb-c", False, True, False, 7),
    ("Google", "Pixel 7", 6.3, "usb-c", False, True, False, 0),
    ("Google", "Pixel 7a", 6.1, "usb-c", False, True, False, 4),
    ("Google", "Pixel 8", 6.2, "usb-c", False, True, False, 9),
    ("Google", "Pixel 8 Pro", 6.7, "usb-c", False, True, False, 9),
    ("OnePlus", "11 5G", 6.7, "usb-c", False, False, False, 1),
    ("Motorola", "Moto G Power 5G (2023)", 6.5, "usb-c", True, False, False, 4),
]
# Cases and protectors: (brand, product line, models it fits). Several lines fit two phones of one shape.
PHONE_CASES = [
    ("Apple", "Silicone Case with MagSafe", ("iPhone 13",)),
    ("Spigen", "Ultra Hybrid Case", ("iPhone 14", "iPhone 13")),
    ("OtterBox", "Defender Series Case", ("iPhone SE (3rd generation)",)),
    ("ESR", "Classic Hybrid Case with HaloLock", ("iPhone SE (3rd generation)",)),
    ("Apple", "Clear Case with MagSafe", ("iPhone 14",)),
    ("OtterBox", "Symmetry Series Case", ("iPhone 14",)),
    ("Spigen", "Tough Armor Case", ("iPhone 14 Pro",)),
    ("Apple", "Silicone Case with MagSafe", ("iPhone 14 Pro",)),
    ("OtterBox", "Commuter Series Case", ("iPhone 14 Pro Max",)),
    ("Caseology", "Parallax Case", ("iPhone 14 Pro Max",)),
    ("Apple", "FineWoven Case with MagSafe", ("iPhone 15",)),
    ("Spigen", "Liquid Air Case", ("iPhone 15",)),
    ("OtterBox", "Defender Series Pro Case", ("iPhone 15 Plus",)),
    ("ESR", "Classic Hybrid Case with HaloLock", ("iPhone 15 Plus",)),
    ("Apple", "Silicone Case with MagSafe", ("iPhone 15 Pro",)),
    ("Spigen", "Tough Armor MagFit Case", ("iPhone 15 Pro",)),
    ("Caseology", "Nano Pop Case", ("iPhone 15 Pro",)),
    ("OtterBox", "Symmetry Series Case", ("iPhone 15 Pro Max",)),
    ("Spigen", "Ultra Hybrid MagFit Case", ("iPhone 15 Pro Max",)),
    ("Samsung", "Silicone Case", ("Galaxy S23",)),
    ("Spigen", "Rugged Armor Case", ("Galaxy S23",)),
    ("Samsung", "Smart View Wallet Case", ("Galaxy S23 Ultra",)),
    ("OtterBox", "Defender Series Case", ("Galaxy S23 Ultra",)),
    ("Samsung", "Standing Grip Case", ("Galaxy S24",)),
    ("Spigen", "Thin Fit Case", ("Galaxy S24",)),
    ("Spigen", "Tough Armor Case", ("Galaxy S24 Ultra",)),
    ("Caseology", "Parallax Case", ("Galaxy S24 Ultra",)),
    ("Spigen", "Liquid Air Case", ("Galaxy A54 5G",)),
    ("Poetic", "Revolution Rugged Case", ("Galaxy A54 5G",)),
    ("Samsung", "Slim Clear Cover", ("Galaxy Z Flip5",)),
    ("Google", "Pixel 7 Case", ("Pixel 7",)),
    ("Spigen", "Rugged Armor Case", ("Pixel 7",)),
    ("Spigen", "Thin Fit Case", ("Pixel 7a",)),
    ("Google", "Pixel 8 Case", ("Pixel 8",)),
    ("Caseology", "Parallax Case", ("Pixel 8",)),
    ("Google", "Pixel 8 Pro Case", ("Pixel 8 Pro",)),
    ("OtterBox", "Symmetry Series Case", ("Pixel 8 Pro",)),
    ("Spigen", "Ultra Hybrid Case", ("OnePlus 11 5G",)),
    ("Poetic", "Guardian Clear Case", ("Moto G Power 5G (2023)",)),
]
SCREEN_PROTECTORS = [
    ("amFilm", "OneTouch Tempered Glass Screen Protector (2 Pack)", ("iPhone 14", "iPhone 13")),
    ("ZAGG", "InvisibleShield Glass Elite Screen Protector", ("iPhone SE (3rd generation)",)),
    ("Spigen", "GlasTR EZ Fit Tempered Glass Screen Protector", ("iPhone 14 Pro",)),
    ("amFilm", "Tempered Glass Screen Protector (3 Pack)", ("iPhone 14 Pro Max",)),
    ("ZAGG", "InvisibleShield Glass XTR3 Screen Protector", ("iPhone 15",)),
    ("ESR", "Armorite Tempered Glass Screen Protector", ("iPhone 15", "iPhone 15 Pro")),
    ("Spigen", "GlasTR EZ Fit Tempered Glass Screen Protector", ("iPhone 15 Pro",)),
    ("amFilm", "OneTouch Tempered Glass Screen Protector (2 Pack)", ("iPhone 15 Plus", "iPhone 15 Pro Max")),
    ("ZAGG", "InvisibleShield Glass Elite Screen Protector", ("iPhone 15 Pro Max",)),
    ("Spigen", "GlasTR EZ Fit Tempered Glass Screen Protector", ("Galaxy S23",)),
    ("Whitestone", "Dome Glass Screen Protector", ("Galaxy S23 Ultra",)),
    ("ZAGG", "InvisibleShield Glass Elite Screen Protector", ("Galaxy S24",)),
    ("Spigen", "GlasTR EZ Fit Tempered Glass Screen Protector", ("Galaxy S24 Ultra",)),
    ("amFilm", "Tempered Glass Screen Protector (2 Pack)", ("Galaxy A54 5G",)),
    ("Supershieldz", "Flexible Film Screen Protector (3 Pack)", ("Galaxy Z Flip5",)),
    ("Spigen", "GlasTR EZ Fit Tempered Glass Screen Protector", ("Pixel 7",)),
    ("amFilm", "Tempered Glass Screen Protector (2 Pack)", ("Pixel 7a",)),
    ("ZAGG", "InvisibleShield Glass Elite Screen Protector", ("Pixel 8",)),
    ("Spigen", "GlasTR EZ Fit Tempered Glass Screen Protector", ("Pixel 8 Pro",)),
    ("Supershieldz", "Tempered Glass Screen Protector (3 Pack)", ("OnePlus 11 5G",)),
    ("Ailun", "Tempered Glass Screen Protector (3 Pack)", ("Moto G Power 5G (2023)",)),
]

# ---------------------------------------------------------------- laptops and their accessories
# (brand, model, screen inches, os, charges over USB-C, release month)
LAPTOPS = [
    ("Apple", "MacBook Air 13-inch (M2)", 13.6, "macOS", True, 0),
    ("Apple", "MacBook Air 15-inch (M2)", 15.3, "macOS", True, 5),
    ("Apple", "MacBook Air 13-inch (M3)", 13.6, "macOS", True, 14),
    ("Apple", "MacBook Pro 14-inch (M3)", 14.2, "macOS", True, 10),
    ("Dell", "XPS 13 9315", 13.4, "Windows", True, 0),
    ("Dell", "XPS 15 9530", 15.6, "Windows", True, 3),
    ("Dell", "Inspiron 15 3520", 15.6, "Windows", False, 0),
    ("Lenovo", "ThinkPad X1 Carbon Gen 11", 14.0, "Windows", True, 3),
    ("Lenovo", "ThinkPad E14 Gen 5", 14.0, "Windows", True, 5),
    ("Lenovo", "IdeaPad 3 15.6-inch", 15.6, "Windows", False, 0),
    ("HP", "Pavilion 15 Laptop", 15.6, "Windows", False, 0),
    ("HP", "Envy x360 15 2-in-1", 15.6, "Windows", True, 0),
    ("HP", "Spectre x360 14", 13.5, "Windows", True, 0),
    ("ASUS", "Zenbook 14 OLED", 14.0, "Windows", True, 0),
    ("ASUS", "ROG Zephyrus G14 Gaming Laptop", 14.0, "Windows", True, 1),
    ("Acer", "Aspire 5 15.6-inch", 15.6, "Windows", False, 0),
    ("Microsoft", "Surface Laptop 5 13.5-inch", 13.5, "Windows", False, 0),
    ("Microsoft", "Surface Laptop Go 3", 12.4, "Windows", False, 9),
]
SLEEVE_SIZES = {"13": (12.0, 13.8), "14": (13.9, 14.5), "15-16": (15.0, 16.2)}
SLEEVES = [
    ("Inateck", "13"), ("tomtoc", "13"), ("MOSISO", "13"), ("Amazon Basics", "13"),
    ("Inateck", "14"), ("tomtoc", "14"), ("Case Logic", "14"),
    ("Inateck", "15-16"), ("tomtoc", "15-16"), ("MOSISO", "15-16"), ("Amazon Basics", "15-16"),
    ("Case Logic", "15-16"),
]
# (brand, product, macOS only, release month)
MICE = [
    ("Logitech", "MX Master 3S Wireless Performance Mouse", False, 0),
    ("Logitech", "MX Master 3S for Mac Wireless Mouse", True, 0),
    ("Logitech", "M720 Triathlon Multi-Device Wireless Mouse", False, 0),
    ("Logitech", "Pebble M350 Wireless Mouse", False, 0),
    ("Logitech", "MX Anywhere 3S Compact Wireless Mouse", False, 5),
    ("Apple", "Magic Mouse", True, 0),
    ("Microsoft", "Bluetooth Mouse", False, 0),
    ("Razer", "DeathAdder V3 Wired Gaming Mouse", False, 0),
    ("Logitech", "G305 LIGHTSPEED Wireless Gaming Mouse", False, 0),
]
KEYBOARDS = [
    ("Logitech", "MX Keys S Wireless Keyboard", False, 5),
    ("Logitech", "MX Keys Mini for Mac Wireless Keyboard", True, 0),
    ("Logitech", "K380 Multi-Device Bluetooth Keyboard", False, 0),
    ("Apple", "Magic Keyboard with Touch ID", True, 0),
    ("Keychron", "K2 V2 Wireless Mechanical Keyboard", False, 0),
    ("Microsoft", "Ergonomic Keyboard", False, 0),
    ("Razer", "BlackWidow V4 Mechanical Gaming Keyboard", False, 4),
]
# ---------------------------------------------------------------- printers and ink
# (brand, model, kind, ink family, release month)
PRINTERS = [
    ("HP", "DeskJet 2755e", "Wireless All-in-One Color Inkjet Printer", "hp-67", 0),
    ("HP", "DeskJet 4155e", "Wireless All-in-One Color Inkjet Printer", "hp-67", 0),
    ("HP", "ENVY 6055e", "Wireless All-in-One Color Inkjet Printer", "hp-67", 0),
    ("HP", "OfficeJet Pro 9015e", "Wireless All-in-One Printer", "hp-962", 0),
    ("HP", "OfficeJet Pro 9025e", "Wireless All-in-One Printer", "hp-962", 0),
    ("HP", "OfficeJet Pro 8025e", "Wireless All-in-One Printer", "hp-910", 0),
    ("HP", "OfficeJet Pro 9125e", "Wireless All-in-One Printer", "hp-936", 6),
    ("Canon", "PIXMA TS3520", "Wireless All-in-One Inkjet Printer", "canon-275", 0),
    ("Canon", "PIXMA TR4720", "Wireless All-in-One Printer with Fax", "canon-275", 0),
    ("Canon", "PIXMA MG3620", "Wireless All-in-One Inkjet Printer", "canon-240", 0),
    ("Epson", "EcoTank ET-2800", "Wireless Cartridge-Free Supertank Printer", "epson-522", 0),
    ("Epson", "EcoTank ET-4850", "Wireless All-in-One Supertank Printer", "epson-502", 0),
    ("Epson", "Expression Home XP-4100", "Wireless Color All-in-One Printer", "epson-212", 0),
    ("Epson", "WorkForce WF-2930", "Wireless All-in-One Printer", "epson-212", 0),
    ("Brother", "HL-L2350DW", "Compact Monochrome Laser Printer", "brother-tn760", 0),
    ("Brother", "HL-L2390DW", "Monochrome Laser Printer with Copy and Scan", "brother-tn760", 0),
    ("Brother", "MFC-J1010DW", "Wireless Color Inkjet All-in-One Printer", "brother-lc401", 0),
]
# (brand, product, ink family)
INKS = [
    ("HP", "67 Black Original Ink Cartridge", "hp-67"),
    ("HP", "67XL Black High-yield Ink Cartridge", "hp-67"),
    ("HP", "67 Tri-color Original Ink Cartridge", "hp-67"),
    ("LxTek", "Remanufactured 67XL Black and Tri-color Ink Combo", "hp-67"),
    ("HP", "962XL Black High-yield Ink Cartridge", "hp-962"),
    ("HP", "962 Cyan, Magenta, Yellow Ink Cartridges (3-Pack)", "hp-962"),
    ("Greencycle", "Compatible 962XL Ink Cartridge (4-Pack)", "hp-962"),
    ("HP", "910XL Black High-yield Ink Cartridge", "hp-910"),
    ("E-Z Ink", "Remanufactured 910XL Ink Cartridge (5-Pack)", "hp-910"),
    ("HP", "936 Black Original Ink Cartridge", "hp-936"),
    ("HP", "936 Cyan, Magenta, Yellow Ink Cartridges (3-Pack)", "hp-936"),
    ("Canon", "PG-275 Black Ink Cartridge", "canon-275"),
    ("Canon", "CL-276 Color Ink Cartridge", "canon-275"),
    ("Canon", "PG-275XL / CL-276XL Value Pack", "canon-275"),
    ("Canon", "PG-240XL Black Ink Cartridge", "canon-240"),
    ("Canon", "CL-241 Color Ink Cartridge", "canon-240"),
    ("Ink4Work", "Remanufactured PG-240XL Black Ink Cartridge", "canon-240"),
    ("Epson", "T522 EcoFit Black Ink Bottle", "epson-522"),
    ("Epson", "522 EcoFit Color Ink Bottles (3-Pack)", "epson-522"),
    ("Epson", "T502 EcoFit Black Ink Bottle", "epson-502"),
    ("Epson", "502 EcoFit Color Ink Bottles (3-Pack)", "epson-502"),
    ("Epson", "T212XL Black High-capacity Ink Cartridge", "epson-212"),
    ("Epson", "212 Color Ink Cartridge Combo Pack", "epson-212"),
    ("Brother", "TN760 High Yield Black Toner Cartridge", "brother-tn760"),
    ("Brother", "TN730 Standard Yield Black Toner Cartridge", "brother-tn760"),
    ("Greencycle", "Compatible TN760 Toner Cartridge (2-Pack)", "brother-tn760"),
    ("Brother", "LC401 Black Ink Cartridge", "brother-lc401"),
    ("Brother", "LC401 Color Ink Cartridges (3-Pack)", "brother-lc401"),
]

# ---------------------------------------------------------------- consoles, controllers, games
# (brand, model, platform, reads discs, plugs into a TV, microSD slot, release month)
CONSOLES = [
    ("Sony", "PlayStation 5 Console", "ps5", True, True, False, 0),
    ("Sony", "PlayStation 5 Digital Edition", "ps5", False, True, False, 0),
    ("Sony", "PlayStation 5 Slim Console", "ps5", True, True, False, 10),
    ("Sony", "PlayStation 5 Slim Digital Edition", "ps5", False, True, False, 10),
    ("Microsoft", "Xbox Series X", "xbox", True, True, False, 0),
    ("Microsoft", "Xbox Series S 512GB", "xbox", False, True, False, 0),
    ("Microsoft", "Xbox Series S 1TB", "xbox", False, True, False, 8),
    ("Nintendo", "Switch OLED Model", "switch", True, True, True, 0),
    ("Nintendo", "Switch with Neon Blue and Red Joy-Con", "switch", True, True, True, 0),
    ("Nintendo", "Switch Lite", "switch", True, False, True, 0),
]
PLATFORM_NAMES = {"ps5": "PlayStation 5", "xbox": "Xbox Series X|S", "switch": "Nintendo Switch"}
# (brand, product, platform, release month). Joy-Con attach to the docked Switch models only.
CONTROLLERS = [
    ("Sony", "DualSense Wireless Controller", "ps5", 0),
    ("Sony", "DualSense Edge Wireless Controller", "ps5", 0),
    ("Microsoft", "Xbox Wireless Controller - Carbon Black", "xbox", 0),
    ("Microsoft", "Xbox Elite Wireless Controller Series 2", "xbox", 0),
    ("PowerA", "Enhanced Wired Controller", "xbox", 0),
    ("Nintendo", "Switch Pro Controller", "switch", 0),
    ("Nintendo", "Joy-Con (L)/(R) - Neon Red/Neon Blue", "switch-tv", 0),
    ("8BitDo", "Pro 2 Bluetooth Controller", "switch", 0),
    ("PowerA", "Enhanced Wireless Controller", "switch", 0),
]
# (publisher, game, platform, release month). Physical discs need a console with a disc drive.
GAMES = [
    ("Sony", "Marvel's Spider-Man 2", "ps5", 9),
    ("Sony", "God of War Ragnarok", "ps5", 0),
    ("Sony", "Horizon Forbidden West", "ps5", 0),
    ("Sony", "Gran Turismo 7", "ps5", 0),
    ("Square Enix", "Final Fantasy XVI", "ps5", 5),
    ("Warner Bros. Games", "Hogwarts Legacy", "ps5", 1),
    ("Electronic Arts", "EA Sports FC 24", "ps5", 8),
    ("Bandai Namco", "Elden Ring", "ps5", 0),
    ("Bethesda", "Starfield", "xbox", 8),
    ("Microsoft", "Forza Horizon 5", "xbox", 0),
    ("Microsoft", "Halo Infinite", "xbox", 0),
    ("Microsoft", "Forza Motorsport", "xbox", 9),
    ("Warner Bros. Games", "Hogwarts Legacy", "xbox", 1),
    ("Electronic Arts", "EA Sports FC 24", "xbox", 8),
    ("Bandai Namco", "Elden Ring", "xbox", 0),
    ("Nintendo", "The Legend of Zelda: Tears of the Kingdom", "switch", 4),
    ("Nintendo", "Mario Kart 8 Deluxe", "switch", 0),
    ("Nintendo", "Super Mario Bros. Wonder", "switch", 9),
    ("Nintendo", "Animal Crossing: New Horizons", "switch", 0),
    ("Nintendo", "Pokemon Scarlet", "switch", 0),
    ("Nintendo", "Super Smash Bros. Ultimate", "switch", 0),
    ("Nintendo", "Pikmin 4", "switch", 6),
    ("Warner Bros. Games", "Hogwarts Legacy", "switch", 10),
    ("Electronic Arts", "EA Sports FC 24", "switch", 8),
]

# ---------------------------------------------------------------- TVs, mounts, cables, sound
# (brand, model, diagonal inches, panel, release month)
TVS = [
    ("Samsung", "Crystal UHD CU7000 4K Smart TV", 55, "LED", 2),
    ("Samsung", "Crystal UHD CU8000 4K Smart TV", 43, "LED", 2),
    ("Samsung", "Neo QLED QN90C 4K Smart TV", 65, "QLED", 2),
    ("Samsung", "S90C OLED 4K Smart TV", 65, "OLED", 3),
    ("LG", "C3 OLED evo 4K Smart TV", 55, "OLED", 3),
    ("LG", "C3 OLED evo 4K Smart TV", 65, "OLED", 3),
    ("LG", "C3 OLED evo 4K Smart TV", 77, "OLED", 3),
    ("Sony", "Bravia XR X90L 4K Google TV", 55, "LED", 4),
    ("Sony", "Bravia X80K 4K Google TV", 65, "LED", 0),
    ("TCL", "Q6 QLED 4K Google TV", 55, "QLED", 4),
    ("TCL", "4-Series 4K Google TV", 50, "LED", 0),
    ("Hisense", "U8K Mini-LED 4K Google TV", 65, "Mini-LED", 4),
    ("Hisense", "U6K Mini-LED 4K Google TV", 55, "Mini-LED", 4),
    ("Vizio", "V-Series 4K Smart TV", 43, "LED", 0),
    ("Insignia", "F20 Series HD Smart Fire TV", 32, "LED", 0),
    ("Amazon", "Fire TV Omni QLED Series 4K Smart TV", 55, "QLED", 9),
]
# (brand, product, smallest and largest TV it holds)
TV_MOUNTS = [
    ("Mounting Dream", "MD2380 Full Motion TV Wall Mount", 26, 55),
    ("Sanus", "Advanced Tilt 4D TV Wall Mount", 42, 90),
    ("ECHOGEAR", "Full Motion TV Wall Mount", 42, 85),
    ("Amazon Basics", "Tilting TV Wall Mount", 32, 86),
    ("PERLESMITH", "Fixed TV Wall Mount", 37, 82),
    ("USX MOUNT", "Full Motion TV Wall Mount", 47, 84),
    ("Mounting Dream", "Fixed TV Wall Mount for Small TVs", 17, 42),
    ("Kanto", "PS300 Full Motion TV Mount", 30, 60),
]
HDMI_CABLES = [
    ("Amazon Basics", "High-Speed HDMI 2.0 Cable, 4K 60Hz, 6 Feet"),
    ("Belkin", "Ultra High Speed HDMI 2.1 Cable, 8K 60Hz, 2 Meters"),
    ("Zeskit", "Maya 8K 48Gbps Certified Ultra High Speed HDMI Cable, 6.5 Feet"),
    ("Cable Matters", "48Gbps 8K HDMI 2.1 Cable, 6 Feet"),
    ("Monoprice", "Certified Premium High Speed HDMI Cable, 10 Feet"),
    ("UGREEN", "4K HDMI 2.0 Braided Cable, 10 Feet"),
    ("Highwings", "8K HDMI 2.1 Cable 48Gbps, 6.6 Feet"),
]
SOUNDBARS = [
    ("Sonos", "Beam (Gen 2) Smart Soundbar with Dolby Atmos", 0),
    ("Samsung", "HW-Q600C 3.1.2ch Soundbar with Dolby Atmos", 3),
    ("Vizio", "V-Series 2.1 Home Theater Sound Bar", 0),
    ("Bose", "Smart Soundbar 600", 0),
    ("Yamaha", "SR-C20A Compact Sound Bar", 0),
    ("Sony", "HT-S400 2.1ch Soundbar with Wireless Subwoofer", 0),
    ("Polk Audio", "Signa S4 Dolby Atmos Soundbar", 0),
]

# ---------------------------------------------------------------- headphones and cases
# (brand, model, form, release month)
HEADPHONES = [
    ("Sony", "WH-1000XM5 Wireless Noise Canceling Headphones", "over-ear", 0),
    ("Sony", "WF-1000XM5 Wireless Noise Canceling Earbuds", "earbuds", 7),
    ("Bose", "QuietComfort 45 Wireless Headphones", "over-ear", 0),
    ("Bose", "QuietComfort Ultra Headphones", "over-ear", 9),
    ("Apple", "AirPods Pro (2nd generation) with Lightning", "earbuds", 0),
    ("Apple", "AirPods Pro (2nd generation) with USB-C", "earbuds", 8),
    ("Apple", "AirPods (3rd generation)", "earbuds", 0),
    ("Samsung", "Galaxy Buds2 Pro", "earbuds", 0),
    ("Sennheiser", "Momentum 4 Wireless Headphones", "over-ear", 0),
    ("Beats", "Studio Pro Wireless Headphones", "over-ear", 6),
    ("Anker", "Soundcore Life Q30 Hybrid ANC Headphones", "over-ear", 0),
    ("JBL", "Tune 510BT Wireless On-Ear Headphones", "on-ear", 0),
]
# (brand, product, headphone models it fits, by the start of the model name)
HEADPHONE_CASES = [
    ("ProCase", "Hard Travel Case", ("Sony WH-1000XM5",)),
    ("Geekria", "Shield Headphones Case", ("Bose QuietComfort 45",)),
    ("Geekria", "Shield Headphones Case", ("Bose QuietComfort Ultra",)),
    ("Spigen", "Silicone Fit Case", ("Apple AirPods Pro (2nd generation) with Lightning",
                                     "Apple AirPods Pro (2nd generation) with USB-C")),
    ("ESR", "Cyber Armor Case", ("Apple AirPods (3rd generation)",)),
    ("elago", "Silicone Case", ("Samsung Galaxy Buds2 Pro",)),
    ("Geekria", "UltraShell Headphones Case", ("Sennheiser Momentum 4",)),
    ("ProCase", "Hard Travel Case", ("Beats Studio Pro",)),
    ("Spigen", "Rugged Armor Case", ("Sony WF-1000XM5",)),
]


def _short_list(names: list[str], limit: int = 4) -> str:
    """'A, B, C' (at most `limit`, then 'and more'), as product titles list compatible models."""
    shown = ", ".join(names[:limit])
    return shown + (" and more" if len(names) > limit else "")


def _camera_products() -> list[Product]:
    out = []
    for brand, model, kind, mp, sensor, mounts, battery, cards, release in CAMERAS:
        lens_mount = MOUNT_NAMES[mounts[0]]
        # titles state the mounts, as sellers' titles often do, so title-only coherence rules can check a lens
        mount_text = lens_mount + "".join("/" + MOUNT_NAMES[m].removeprefix(f"{brand} ") for m in mounts[1:])
        card_text = " and ".join(CARD_NAMES[c] for c in cards)
        p = _device("camera", brand, f"{model} {mp:g}MP {sensor} {kind} (Body Only, {mount_text} Mount)",
                    f"{mp:g} megapixel {sensor} {kind} with a {lens_mount} lens mount; "
                    f"takes the {battery} battery and records to {card_text} cards.",
                    [f"mount:{m}" for m in mounts] + [f"battery:{battery}"] + [f"card:{c}" for c in cards],
                    release)
        p.model = f"{brand} {model}"
        out.append(p)
    for code, maker, third_parties in BATTERIES:
        fits = [f"{b} {m}" for b, m, _k, _mp, _s, _mounts, battery, _c, _r in CAMERAS if battery == code]
        fits_text = _short_list(fits)
        out.append(_accessory("camera battery", maker, f"{maker} {code} Rechargeable Lithium-Ion Battery Pack "
                              f"for {fits_text}", f"Original {maker} {code} battery; a spare keeps the "
                              f"{fits[0]} shooting all day.", {f"battery:{code}"}))
        for i, brand in enumerate(third_parties):
            pack = "2-Pack" if i == 0 else "with USB Dual Charger"
            out.append(_accessory("camera battery", brand, f"{brand} {code} Battery ({pack}) for {fits_text}",
                                  f"Third-party {code} replacement battery; fits {fits_text}.",
                                  {f"battery:{code}"}))
    for brand, name, mount, release in LENSES:
        out.append(_accessory("lens", brand, f"{brand} {name} for {MOUNT_NAMES[mount]} Mount",
                              f"Interchangeable lens with a {MOUNT_NAMES[mount]} mount.", {f"mount:{mount}"},
                              release))
    for brand, name, card in MEMORY_CARDS:
        out.append(_accessory("memory card", brand, f"{brand} {name}",
                              f"{CARD_NAMES[card]} memory card for cameras and devices with a "
                              f"{CARD_NAMES[card]} slot.", {f"card:{card}"}))
    for brand, name in CAMERA_BAGS:
        out.append(_accessory("camera bag", brand, f"{brand} {name}",
                              "Padded bag with adjustable dividers for a camera body, lenses and accessories."))
    for brand, name in TRIPODS:
        out.append(_accessory("tripod", brand, f"{brand} {name}",
                              "Tripod with a standard 1/4-20 screw; holds cameras steady for long exposures "
                              "and video."))
    return out


def _phone_products() -> list[Product]:
    out = []
    for brand, model, screen, port, microsd, wireless, magsafe, release in PHONES:
        tags = {f"phone:{model}", f"phone:{brand} {model}", f"port:{port}", f"{brand.lower()}:{port}"} | ({"card:microsd"} if microsd else set())
        tags |= ({"charging:qi"} if wireless else set()) | ({"charging:magsafe"} if magsafe else set())
        features = f"{'Lightning' if port == 'lightning' else 'USB-C'} port"
        features += ", microSD slot" if microsd else ""
        features += ", MagSafe" if magsafe else (", wireless charging" if wireless else "")
        p = _device("phone", brand, f"{model} {screen}-inch Smartphone, Unlocked",
                    f"{screen}-inch smartphone with {features}.", tags, release)
        p.model = f"{brand} {model}"
        out.append(p)
    for brand, line, models in PHONE_CASES:
        names = " / ".join(models)
        out.append(_accessory("phone case", brand, f"{brand} {line} for {names}",
                              f"Protective case cut for the {names}.", {f"phone:{m}" for m in models}))
    for brand, line, models in SCREEN_PROTECTORS:
        names = " / ".join(models)
        out.append(_accessory("screen protector", brand, f"{brand} {line} for {names}",
                              f"Screen protector sized for the {names}.", {f"phone:{m}" for m in models}))
    chargers = [
        ("Apple", "20W USB-C Power Adapter", {"port:lightning", "port:usb-c"}, "iPhone and Android phones"),
        ("Apple", "USB-C to Lightning Cable (1 m)", {"port:lightning"}, "iPhone 14, iPhone 13 and iPhone SE"),
        ("Anker", "USB-C to Lightning Cable, MFi Certified, 6 ft", {"port:lightning"},
         "iPhone 14 Pro, iPhone 14, iPhone 13"),
        ("Apple", "240W USB-C Charge Cable (2 m)", {"port:usb-c", "laptop:usb-c"},
         "iPhone 15, MacBook and USB-C devices"),
        ("Anker", "USB-C to USB-C Cable 100W, 6 ft", {"port:usb-c", "laptop:usb-c"},
         "iPhone 15 series, Galaxy S24, Pixel 8, MacBook Air"),
        ("Samsung", "25W Super Fast Charging Wall Charger", {"samsung:usb-c"}, "Galaxy S24, S23 and A54"),
        ("Google", "30W USB-C Charger", {"google:usb-c"}, "Pixel 8 Pro, Pixel 8, Pixel 7a, Pixel 7"),
        ("Anker", "735 Charger (Nano II 65W) GaN USB-C Charger", {"port:usb-c", "laptop:usb-c"},
         "iPhone 15, Galaxy S24, MacBook Air, Dell XPS 13"),
        ("Apple", "MagSafe Charger (1 m)", {"charging:magsafe"}, "iPhone 15, iPhone 14, iPhone 13"),
        ("Belkin", "BoostCharge Pro 3-in-1 Wireless Charging Pad with MagSafe 15W", {"charging:magsafe"},
         "iPhone 15, iPhone 14, iPhone 13 and AirPods"),
        ("Anker", "313 Wireless Charger (Pad), Qi-Certified 10W", {"charging:qi"},
         "iPhone 15, Galaxy S24, Pixel 8 and other Qi phones"),
        ("Apple", "70W USB-C Power Adapter", {"mac:usb-c"}, "MacBook Pro 14-inch and MacBook Air"),
        ("Dell", "65W USB-C AC Adapter", {"dell:usb-c"}, "Dell XPS 13 and XPS 15"),
        ("Lenovo", "65W USB-C Laptop Power Adapter", {"lenovo:usb-c"}, "ThinkPad X1 Carbon and ThinkPad E14"),
    ]
    for brand, name, needs, fits_text in chargers:
        out.append(_accessory("charger", brand, f"{brand} {name} for {fits_text}",
                              f"Charger or charging cable; works with {fits_text}.", needs))
    return out


def _laptop_products() -> list[Product]:
    out = []
    for brand, model, screen, os_name, usb_c, release in LAPTOPS:
        tags = {f"screen:{screen}", f"os:{os_name}"}
        if usb_c:
            tags |= {"laptop:usb-c", f"{brand.lower()}:usb-c"} | ({"mac:usb-c"} if brand == "Apple" else set())
        p = _device("laptop", brand, f"{model} Laptop", f"{screen}-inch {os_name} laptop"
                    + (" that charges over USB-C." if usb_c else " with a barrel-plug charger."), tags, release)
        p.model = f"{brand} {model}"
        p.title = f"{brand} {model}" + ("" if "Laptop" in model else " Laptop") + f", {screen}-inch {os_name}"
        out.append(p)
    for brand, size in SLEEVES:
        low, high = SLEEVE_SIZES[size]
        needs = {f"screen:{s}" for *_b, s, _o, _u, _r in LAPTOPS if low <= s <= high}
        out.append(_accessory("laptop sleeve", brand, f"{brand} {size} inch Laptop Sleeve Case for "
                              f"{size}-inch laptops", f"Padded sleeve for laptops with a {low:g}-{high:g} inch "
                              "screen.", needs))
    for brand, name, mac_only, release in MICE:
        out.append(_accessory("mouse", brand, f"{brand} {name}", "Mouse for macOS laptops." if mac_only else
                              "Bluetooth mouse for Windows and macOS laptops.",
                              {"os:macOS"} if mac_only else None, release))
    for brand, name, mac_only, release in KEYBOARDS:
        out.append(_accessory("keyboard", brand, f"{brand} {name}", "Keyboard with a Mac layout." if mac_only
                              else "Keyboard for Windows and macOS.", {"os:macOS"} if mac_only else None, release))
    return out


def _printer_products() -> list[Product]:
    out = []
    ink_names: dict[str, str] = {}
    for brand, name, family in INKS:
        ink_names.setdefault(family, name.split(" ")[0])
    for brand, model, kind, family, release in PRINTERS:
        p = _device("printer", brand, f"{model} {kind}", f"{kind}; uses {brand} {ink_names[family]} "
                    f"{'toner' if 'toner' in family or 'tn' in family else 'ink'}.", {f"ink:{family}"}, release)
        p.model = f"{brand} {model}"
        out.append(p)
    for brand, name, family in INKS:
        printers = [f"{b} {m}" for b, m, _k, f, _r in PRINTERS if f == family]
        out.append(_accessory("ink cartridge", brand, f"{brand} {name} for {_short_list(printers, 3)}",
                              f"Ink or toner for {', '.join(printers)}.", {f"ink:{family}"}))
    return out


def _console_products() -> list[Product]:
    out = []
    for brand, model, platform, disc, tv, microsd, release in CONSOLES:
        tags = {f"platform:{platform}"} | ({f"disc:{platform}"} if disc else set())
        tags |= ({"switch-tv"} if platform == "switch" and tv else set()) | ({"card:microsd"} if microsd else set())
        text = f"{PLATFORM_NAMES[platform]} console" + ("" if disc else ", digital only (no disc drive)")
        text += ", with a microSD slot for more storage." if microsd else "."
        p = _device("game console", brand, model, text, tags, release)
        p.model = f"{brand} {model}"
        out.append(p)
    for brand, name, platform, release in CONTROLLERS:
        need = "switch-tv" if platform == "switch-tv" else f"platform:{platform}"
        target = "Nintendo Switch and Switch OLED" if platform == "switch-tv" else PLATFORM_NAMES[platform]
        out.append(_accessory("controller", brand, f"{brand} {name} for {target}",
                              f"Game controller for {target}.", {need}, release))
    for brand, name, platform, release in GAMES:
        edition = {"ps5": "PlayStation 5", "xbox": "Xbox Series X", "switch": "Nintendo Switch"}[platform]
        disc = "" if platform == "switch" else " (physical disc; needs a console with a disc drive)"
        out.append(_accessory("video game", brand, f"{name} - {edition}", f"{name}, {edition} edition{disc}.",
                              {f"disc:{platform}"}, release))
    return out


def _tv_products() -> list[Product]:
    out = []
    for brand, model, size, panel, release in TVS:
        p = _device("tv", brand, f"{size}-inch {model}", f"{size}-inch {panel} television with HDMI 2.1 inputs.",
                    {f"size:{size}"}, release)
        p.model = f"{brand} {size}-inch {model}"
        out.append(p)
    for brand, name, low, high in TV_MOUNTS:
        needs = {f"size:{s}" for _b, _m, s, _p, _r in TVS if low <= s <= high}
        out.append(_accessory("tv wall mount", brand, f"{brand} {name} for {low}-{high} inch TVs",
                              f"Wall mount for TVs from {low} to {high} inches.", needs))
    for brand, name in HDMI_CABLES:
        out.append(_accessory("hdmi cable", brand, f"{brand} {name}",
                              "HDMI cable for TVs, game consoles, soundbars and laptops."))
    for brand, name, release in SOUNDBARS:
        out.append(_accessory("soundbar", brand, f"{brand} {name}",
                              "Soundbar that connects to a TV over HDMI eARC or optical.", None, release))
    return out


def _headphone_products() -> list[Product]:
    out = []
    for brand, model, form, release in HEADPHONES:
        p = _device("headphones", brand, model, "Wireless earbuds with a charging case." if form == "earbuds"
                     else f"Wireless {form} headphones.", {f"headphones:{brand} {model}"},
                    release)
        p.model = f"{brand} {model}"
        out.append(p)
    for brand, name, models in HEADPHONE_CASES:
        full = [f"{b} {m}" for b, m, _f, _r in HEADPHONES if any(f"{b} {m}".startswith(x) for x in models)]
        assert full, f"headphone case {name} fits nothing"
        out.append(_accessory("headphone case", brand, f"{brand} {name} for {' / '.join(models)}",
                              f"Protective case for {' and '.join(models)}.", {f"headphones:{m}" for m in full}))
    return out


def _resolve_fits(products: list[Product]) -> None:
    """Fill `fits` (device item ids) from tags, and date an accessory by the first device it fits."""
    devices = [p for p in products if p.role == "device"]
    for p in products:
        if p.needs is None:
            continue
        targets = [d for d in devices if d.tags & p.needs]
        if not targets:
            raise ValueError(f"accessory {p.title!r} fits no device in the catalogue (needs {sorted(p.needs)})")
        p.fits = [d.item_id for d in targets]
        p.release_month = max(p.release_month, min(d.release_month for d in targets))


BUILDERS: tuple[Callable[[], list[Product]], ...] = (_camera_products, _phone_products, _laptop_products,
                                                      _printer_products, _console_products, _tv_products,
                                                      _headphone_products)


def build_products() -> list[Product]:
    products = [p for build in BUILDERS for p in build()]
    for number, p in enumerate(products, start=1):
        p.item_id = f"D{number:04d}"
    _resolve_fits(products)
    titles = [p.title for p in products]
    duplicates = {t for t in titles if titles.count(t) > 1}
    if duplicates:
        raise ValueError(f"duplicate titles: {sorted(duplicates)[:5]}")
    return products


def write_catalog(path: Path = CATALOG_FILE) -> int:
    products = build_products()
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for p in products:
            writer.writerow([p.item_id, p.title, " > ".join(CATEGORY_OF_TYPE[p.product_type]), p.brand, p.text,
                             p.product_type, p.role, p.model, ";".join(p.fits), p.release_month])
    return len(products)


if __name__ == "__main__":
    print(f"wrote {write_catalog()} products to {CATALOG_FILE}")
