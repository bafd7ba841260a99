"""Fixed word lists the generator draws from: categories, product words, people's names.

Changing any list changes every generated row for every seed, so treat them as data fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name: str
    description: str
    colours: tuple[RGB, RGB]
    price_range_cents: tuple[int, int]
    nouns: tuple[str, ...]


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("KIT", "Kitchen", "Cookware, knives and tools for everyday cooking.",
                 ((200, 80, 40), (250, 200, 120)), (900, 24_900),
                 ("Skillet", "Chef's Knife", "Saucepan", "Cutting Board", "Dutch Oven", "Whisk", "Colander")),
    CategorySpec("COF", "Coffee & Tea", "Brewers, grinders, beans and loose-leaf tea.",
                 ((90, 55, 35), (210, 170, 120)), (600, 39_900),
                 ("Pour-Over Kettle", "Burr Grinder", "French Press", "Espresso Beans", "Tea Tin", "Mug")),
    CategorySpec("BED", "Bedding", "Sheets, duvets and pillows for better sleep.",
                 ((120, 140, 190), (230, 235, 250)), (2_500, 29_900),
                 ("Duvet Cover", "Sheet Set", "Pillow", "Throw Blanket", "Mattress Topper", "Quilt")),
    CategorySpec("BTH", "Bath", "Towels, robes and bathroom accessories.",
                 ((60, 150, 170), (200, 240, 240)), (800, 12_900),
                 ("Bath Towel", "Robe", "Bath Mat", "Soap Dish", "Shower Curtain", "Hand Towel Set")),
    CategorySpec("LIT", "Lighting", "Lamps and bulbs for every room.",
                 ((230, 180, 40), (60, 50, 30)), (1_500, 34_900),
                 ("Table Lamp", "Floor Lamp", "Pendant Light", "LED Bulb Pack", "Desk Lamp", "Lantern")),
    CategorySpec("OUT", "Outdoor", "Camping, hiking and garden gear.",
                 ((50, 120, 60), (180, 210, 140)), (1_200, 44_900),
                 ("Tent", "Daypack", "Camp Stove", "Water Bottle", "Hammock", "Trekking Poles", "Headlamp")),
    CategorySpec("GAR", "Garden", "Planters, tools and seeds.",
                 ((80, 150, 50), (230, 200, 90)), (500, 14_900),
                 ("Planter", "Pruning Shears", "Seed Kit", "Watering Can", "Garden Gloves", "Trowel")),
    CategorySpec("AUD", "Audio", "Headphones, speakers and accessories.",
                 ((30, 30, 50), (120, 90, 220)), (1_900, 49_900),
                 ("Headphones", "Bluetooth Speaker", "Earbuds", "Turntable", "Soundbar", "Audio Cable")),
    CategorySpec("CMP", "Computing", "Keyboards, mice, stands and storage.",
                 ((40, 60, 90), (110, 200, 230)), (1_500, 29_900),
                 ("Mechanical Keyboard", "Mouse", "Laptop Stand", "USB-C Hub", "SSD", "Monitor Arm")),
    CategorySpec("OFF", "Office", "Stationery and desk organisation.",
                 ((180, 180, 170), (40, 90, 160)), (300, 8_900),
                 ("Notebook", "Fountain Pen", "Desk Organiser", "Planner", "Sticky Notes", "Pencil Set")),
    CategorySpec("TOY", "Toys", "Games, puzzles and toys for all ages.",
                 ((230, 60, 80), (250, 220, 60)), (700, 9_900),
                 ("Puzzle", "Building Set", "Board Game", "Plush Bear", "Kite", "Wooden Train")),
    CategorySpec("BOK", "Books", "Fiction, cookbooks and field guides.",
                 ((130, 40, 50), (240, 220, 190)), (900, 4_900),
                 ("Novel", "Cookbook", "Field Guide", "Atlas", "Poetry Collection", "Sketchbook")),
    CategorySpec("FIT", "Fitness", "Equipment for home workouts and yoga.",
                 ((230, 110, 30), (40, 40, 40)), (1_000, 59_900),
                 ("Yoga Mat", "Kettlebell", "Resistance Bands", "Foam Roller", "Jump Rope", "Dumbbell Pair")),
    CategorySpec("PET", "Pets", "Beds, toys and bowls for cats and dogs.",
                 ((160, 110, 70), (240, 230, 200)), (400, 12_900),
                 ("Dog Bed", "Cat Tree", "Leash", "Food Bowl", "Chew Toy", "Litter Mat")),
    CategorySpec("BAB", "Baby", "Nursery essentials and soft toys.",
                 ((240, 170, 190), (190, 220, 240)), (800, 24_900),
                 ("Swaddle Set", "Baby Carrier", "Night Light", "Teether", "Crib Sheet", "Bib Pack")),
    CategorySpec("BEA", "Beauty", "Skincare and grooming.",
                 ((200, 120, 150), (250, 235, 225)), (500, 7_900),
                 ("Face Cream", "Lip Balm Set", "Hair Brush", "Serum", "Shaving Kit", "Body Lotion")),
    CategorySpec("TRV", "Travel", "Luggage and travel accessories.",
                 ((30, 80, 120), (220, 190, 130)), (1_200, 39_900),
                 ("Carry-On Suitcase", "Packing Cubes", "Travel Pillow", "Passport Wallet", "Duffel Bag")),
    CategorySpec("DEC", "Home Decor", "Vases, frames, rugs and wall art.",
                 ((150, 90, 140), (230, 210, 180)), (900, 39_900),
                 ("Vase", "Picture Frame", "Area Rug", "Wall Clock", "Mirror", "Candle Set", "Cushion")),
    CategorySpec("PAN", "Pantry", "Oils, spices and snacks.",
                 ((170, 60, 20), (240, 190, 60)), (300, 3_900),
                 ("Olive Oil", "Spice Set", "Hot Sauce", "Granola", "Honey Jar", "Pasta Pack")),
    CategorySpec("CLO", "Clothing", "Everyday basics and outerwear.",
                 ((50, 50, 70), (200, 80, 60)), (1_200, 19_900),
                 ("T-Shirt", "Hoodie", "Rain Jacket", "Wool Socks", "Beanie", "Chinos", "Scarf")),
)

ADJECTIVES: tuple[str, ...] = (
    "Classic", "Everyday", "Compact", "Deluxe", "Essential", "Nordic", "Rustic", "Modern", "Heritage",
    "Lightweight", "Premium", "Urban", "Coastal", "Alpine", "Studio", "Vintage", "Pro", "Organic",
)

MATERIALS: tuple[str, ...] = (
    "Walnut", "Oak", "Linen", "Cotton", "Steel", "Copper", "Ceramic", "Bamboo", "Wool", "Slate",
    "Sage", "Charcoal", "Ivory", "Terracotta", "Indigo", "Amber", "Graphite", "Birch",
)

FEATURES: tuple[str, ...] = (
    "Built to last and easy to care for.",
    "Designed in small batches and tested for everyday use.",
    "A customer favourite, now in a refreshed design.",
    "Thoughtfully made from responsibly sourced materials.",
    "Pairs well with the rest of the collection.",
    "Backed by our two-year warranty.",
    "Ships in plastic-free packaging.",
    "Compact enough for small spaces.",
)

FIRST_NAMES: tuple[str, ...] = (
    "Ava", "Liam", "Mia", "Noah", "Emma", "Oliver", "Sofia", "Elijah", "Amara", "Lucas", "Yuki", "Mateo",
    "Chloe", "Arjun", "Zoe", "Kai", "Nora", "Ravi", "Leila", "Omar", "Ingrid", "Tomas", "Priya", "Diego",
    "Hana", "Felix", "Maya", "Jonas", "Aisha", "Ethan", "Clara", "Wei", "Lena", "Samuel", "Fatima", "Hugo",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Garcia", "Chen", "Patel", "Johansson", "Okafor", "Rossi", "Kim", "Novak", "Silva", "Müller",
    "Nguyen", "Dubois", "Kowalski", "Tanaka", "Haddad", "Murphy", "Larsen", "Costa", "Ivanova", "Singh",
    "Brown", "Moreau", "Yilmaz", "Ortiz", "Fischer", "Abe", "Walker", "Mensah", "Lindqvist",
)

EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")
