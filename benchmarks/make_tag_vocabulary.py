"""Writes search/tags/vocabulary.txt, the labels pixsift tags pictures with.

The labels come from class lists that ship with installed packages, curated by hand: ImageNet's
1,000 class names (open_clip.zero_shot_metadata) with fine-grained groups merged into everyday
words (118 dog breeds are "dog"), the COCO object categories (torchvision's detection weights'
metadata), and the scenes, events and styles that neither list has, named here. Run it again
after editing the tables below:

    .venv/bin/python benchmarks/make_tag_vocabulary.py
"""

from __future__ import annotations

from pathlib import Path

from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, SIMPLE_IMAGENET_TEMPLATES
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

OUTPUT = Path(__file__).resolve().parent.parent / "search" / "tags" / "vocabulary.txt"

#: ImageNet index ranges merged into one everyday word.
MERGED_RANGES: dict[str, tuple[range, ...]] = {
    "fish": (range(0, 7), range(389, 398)),
    "bird": (range(7, 25), range(80, 101), range(127, 147)),
    "frog": (range(30, 33),),
    "turtle": (range(33, 38),),
    "lizard": (range(38, 49),),
    "crocodile": (range(49, 51),),
    "snake": (range(52, 69),),
    "spider": (range(72, 78),),
    "crab": (range(118, 122), range(125, 126)),
    "lobster": (range(122, 125),),
    "whale": (range(147, 149),),
    "dog": (range(151, 269),),
    "wolf": (range(269, 273),),
    "fox": (range(277, 281),),
    "cat": (range(281, 286),),
    "big cat": (range(286, 294),),
    "bear": (range(294, 298),),
    "beetle": (range(300, 308),),
    "butterfly": (range(321, 327),),
    "rabbit": (range(330, 333),),
    "monkey": (range(365, 383),),
    "elephant": (range(385, 387),),
    "mushroom": (range(991, 998), range(947, 948)),
}

#: ImageNet classes kept, under an everyday name where ImageNet's is technical.
KEPT: dict[str, str] = {
    "goldfish": "goldfish", "great white shark": "shark", "rooster": "chicken", "hen": "chicken",
    "ostrich": "ostrich", "bald eagle": "eagle", "great grey owl": "owl", "peafowl": "peacock",
    "macaw": "parrot", "hummingbird": "hummingbird", "toucan": "toucan", "duck": "duck",
    "goose": "goose", "black swan": "swan", "koala": "koala", "jellyfish": "jellyfish",
    "snail": "snail", "flamingo": "flamingo", "pelican": "pelican", "king penguin": "penguin",
    "killer whale": "whale", "sea lion": "seal", "lion": "lion", "tiger": "tiger",
    "cheetah": "cheetah", "leopard": "leopard", "polar bear": "polar bear",
    "ladybug": "ladybug", "bee": "bee", "ant": "ant", "grasshopper": "grasshopper",
    "dragonfly": "dragonfly", "starfish": "starfish", "hamster": "hamster",
    "fox squirrel": "squirrel", "beaver": "beaver",
    "guinea pig": "guinea pig", "common sorrel horse": "horse", "zebra": "zebra", "pig": "pig",
    "hippopotamus": "hippopotamus", "ox": "cow", "bison": "bison",
    "ram (adult male sheep)": "sheep", "arabian camel": "camel", "llama": "llama",
    "otter": "otter", "gorilla": "gorilla", "giant panda": "panda", "red panda": "red panda",
    "accordion": "accordion", "acoustic guitar": "guitar", "electric guitar": "guitar",
    "airliner": "airplane", "ambulance": "ambulance", "backpack": "backpack",
    "bakery": "bakery", "balloon": "balloon", "barn": "barn", "basketball": "basketball",
    "bathtub": "bathtub", "lighthouse": "lighthouse", "beer bottle": "beer",
    "beer glass": "beer", "bookcase": "bookshelf", "bucket": "bucket", "candle": "candle",
    "canoe": "canoe", "carousel": "carousel", "castle": "castle", "cello": "cello",
    "church": "church", "coffee mug": "mug", "cowboy hat": "hat", "desk": "desk",
    "desktop computer": "computer", "drum": "drum", "envelope": "envelope",
    "fire truck": "fire truck", "fountain": "fountain", "grand piano": "piano",
    "upright piano": "piano", "greenhouse": "greenhouse", "grocery store": "shop",
    "hammer": "hammer", "carved pumpkin": "pumpkin", "jeans": "jeans", "T-shirt": "t-shirt",
    "jigsaw puzzle": "puzzle", "kimono": "kimono", "lawn mower": "lawn mower",
    "library": "library", "mailbox": "mailbox", "mask": "mask", "microphone": "microphone",
    "mosque": "mosque", "mountain bike": "bicycle", "tent": "tent", "necklace": "necklace",
    "palace": "palace", "parachute": "parachute", "park bench": "bench",
    "pickup truck": "truck", "pier": "pier", "pillow": "pillow", "pirate ship": "ship",
    "pool table": "billiards", "printer": "printer", "race car": "race car", "radio": "radio",
    "restaurant": "restaurant", "rocking chair": "chair", "sneaker": "shoe",
    "sandal": "sandal", "saxophone": "saxophone", "school bus": "bus",
    "sewing machine": "sewing machine", "shopping cart": "shopping cart",
    "shovel": "shovel", "ski": "skiing", "snowmobile": "snowmobile", "soccer ball": "football",
    "sock": "socks", "space shuttle": "rocket", "sports car": "sports car",
    "stage": "stage", "steam locomotive": "train", "suspension bridge": "bridge",
    "through arch bridge": "bridge", "sunglasses": "sunglasses", "suit": "suit",
    "swing": "swing", "teapot": "teapot", "tennis ball": "tennis", "tractor": "tractor",
    "tram": "tram", "umbrella": "umbrella", "violin": "violin", "volleyball": "volleyball",
    "wallet": "wallet", "washing machine": "washing machine", "sailboat": "sailboat",
    "website": "website", "comic book": "comic", "crossword": "crossword",
    "traffic or street sign": "street sign", "menu": "menu", "plate": "plate",
    "ice cream": "ice cream", "bagel": "bagel", "pretzel": "pretzel",
    "cheeseburger": "burger", "cabbage": "cabbage", "cucumber": "cucumber",
    "bell pepper": "pepper", "strawberry": "strawberry", "lemon": "lemon",
    "pineapple": "pineapple", "pomegranate": "pomegranate", "burrito": "burrito",
    "red wine": "wine", "espresso": "coffee", "tea cup": "tea", "mountain": "mountain",
    "cliff": "cliff", "coral reef": "coral reef", "lakeshore": "lake", "beach": "beach",
    "valley": "valley", "volcano": "volcano", "bridegroom": "wedding", "scuba diver": "diving",
    "daisy": "flower", "corn": "corn", "toilet paper": "toilet paper",
    "monitor": "computer screen", "stone wall": "wall",
    "dam": "dam", "dock": "harbor", "obelisk": "monument", "triumphal arch": "monument",
    "totem pole": "totem pole", "water tower": "tower",
    "bell tower": "tower", "maze": "maze", "snowplow": "snow", "slot machine": "casino",
    "birdhouse": "birdhouse", "airship": "airship",
    "kite (bird of prey)": "bird", "ocean liner": "ship", "container ship": "ship",
    "submarine": "submarine", "tank": "tank", "military aircraft": "military",
    "military uniform": "military", "rifle": "weapon", "revolver": "weapon",
}  # fmt: skip

#: COCO names spelled as people say them.
COCO_RENAMES = {"tv": "television", "cell phone": "phone", "sports ball": "ball",
                "dining table": "table", "potted plant": "houseplant", "mouse": "computer mouse",
                "remote": "remote control", "hair drier": "hair dryer", "skis": "skiing",
                "couch": "sofa"}  # fmt: skip

#: What neither class list names: scenes, events, people, styles and kinds of picture.
EXTRA = """
scenes: city, street, road, highway, skyline, skyscraper, building, house, apartment, village,
farm, field, meadow, garden, park, forest, jungle, desert, savanna, snow, glacier, river,
waterfall, lake, ocean, sea, island, harbor, sky, clouds, sunset, sunrise, night, rain, fog,
storm, rainbow, stars, moon, sun, space, underwater, cave, canyon, hill, countryside, vineyard,
playground, stadium, airport, train station, subway, parking lot, market, shop, mall, office,
classroom, kitchen, living room, bedroom, bathroom, dining room, hallway, staircase, garage,
attic, balcony, swimming pool, gym, hospital, museum, art gallery, theater, concert hall, bar,
cafe, hotel room, campsite, ruins, temple, cathedral, statue, graffiti, alley, crosswalk,
construction site, factory, laboratory, studio, indoor, outdoor, aerial view, landscape
people: person, people, crowd, man, woman, child, baby, family, couple, selfie, portrait,
group photo, hands, face, eyes, smile, athlete, musician, dancer, chef, doctor, soldier,
police, firefighter, student, teacher, tourist
events: wedding, birthday, party, concert, festival, christmas, halloween, new year, fireworks,
graduation, holiday, vacation, picnic, barbecue, parade, protest, sports match, race, marathon,
meeting, conference, ceremony, funeral, dinner, breakfast, camping, hiking, skiing, surfing,
swimming, cycling, running, fishing, sailing, gardening, cooking, shopping, travel, road trip
objects: car, bicycle, motorcycle, boat, train, bus, truck, airplane, helicopter, drone,
traffic light, bridge, fence, door, window, roof, stairs, clock, lamp, mirror, painting,
poster, sign, flag, map, book, newspaper, letter, document, receipt, ticket, money, phone,
camera, laptop, keyboard, headphones, television, toy, doll, lego, ball, kite, gift, cake,
food, fruit, vegetables, bread, cheese, meat, salad, soup, pasta, sushi, pizza, sandwich,
dessert, cookies, chocolate, drink, cocktail, bottle, glass, cup, bowl, flowers, tree, leaves,
grass, plant, cactus, rose, tulip, sunflower, rock, sand, water, fire, smoke, ice, furniture,
bed, chair, table, sofa, rug, curtain, jewelry, ring, watch, glasses, hat, dress, shoes, bag,
costume, uniform, tattoo, horse, cow, sheep, goat, deer, giraffe, kangaroo, dolphin, insect,
pet, wildlife, animal, vehicle, tool, machine, robot, weapon, instrument, windmill, hot air balloon,
sculpture, logo, text,
handwriting, chart, diagram, screenshot, user interface, code, calendar, table of numbers
styles: photograph, black and white, vintage, sepia, drawing, sketch, painting, watercolor,
oil painting, cartoon, anime, comic, illustration, clip art, icon, pattern, texture, abstract,
minimalist, 3d render, pixel art, infographic, collage, meme, blurry, close-up, macro,
long exposure, panorama, silhouette, colorful, dark, bright, neon, pastel, monochrome
"""


def imagenet_labels() -> set[str]:
    """The merged groups (each checked to name real ImageNet classes) and the kept classes."""
    names = list(IMAGENET_CLASSNAMES)
    labels = {
        label
        for label, ranges in MERGED_RANGES.items()
        if all(r.stop <= len(names) for r in ranges)
    }
    missing = sorted(set(KEPT) - set(names))
    if missing:
        raise SystemExit(f"ImageNet's class names changed: {missing[:10]} ...")
    return labels | {KEPT[name] for name in names if name in KEPT}


def coco_labels() -> set[str]:
    categories = FasterRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]
    return {
        COCO_RENAMES.get(name, name) for name in categories if name not in ("__background__", "N/A")
    }


def vocabulary() -> list[str]:
    labels = imagenet_labels() | coco_labels() | _extra_items()
    return sorted(label.lower() for label in labels)


def _extra_items() -> set[str]:
    items: set[str] = set()
    for group in EXTRA.strip().split("\n"):
        text = group.split(":", 1)[1] if ":" in group else group
        items.update(item.strip() for item in text.split(",") if item.strip())
    return items


def main() -> None:
    labels = vocabulary()
    # The prompt templates of CLIP's ensembling study that open_clip ships, kept with the labels
    # so that pixsift reads them without importing open_clip (and torch).
    templates = [f"template: {template('{}')}" for template in SIMPLE_IMAGENET_TEMPLATES]
    header = "# pixsift tag vocabulary: written by benchmarks/make_tag_vocabulary.py"
    OUTPUT.write_text("\n".join([header, *templates, *labels]) + "\n", encoding="utf-8")
    print(f"{len(labels)} labels -> {OUTPUT}")


if __name__ == "__main__":
    main()
