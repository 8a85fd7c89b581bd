"""The word tables the rules read: names and aliases for genres, moods, roles, energy and voice.

Phrases are lowercase and matched on word boundaries. A *name* states a fact ("trip-hop");
a *cue* only implies one ("club track" implies house), so the model may overrule a cue.
"""

from __future__ import annotations

GENRE_NAMES: dict[str, str] = {
    "triphop": "triphop", "trip-hop": "triphop", "trip hop": "triphop", "downtempo": "triphop",
    "lofi": "lofi", "lo-fi": "lofi", "lo fi": "lofi", "chillhop": "lofi", "boom bap": "lofi",
    "boom-bap": "lofi", "hip hop": "lofi", "hip-hop": "lofi",
    "house": "house", "deep house": "house", "techno": "house", "disco": "house", "edm": "house",
    "ballad": "ballad", "power ballad": "ballad",
    "jazz": "jazz", "jazzy": "jazz", "bebop": "jazz", "bossa nova": "jazz",
    "folk": "folk", "folky": "folk", "bluegrass": "folk", "country": "folk", "americana": "folk",
    "singer-songwriter": "folk",
    "rock": "rock", "punk": "rock", "grunge": "rock", "indie rock": "rock", "metal": "rock",
    "ambient": "ambient", "drone": "ambient", "soundscape": "ambient", "new age": "ambient",
    "pop": "pop", "synthpop": "pop", "synth-pop": "pop", "synth pop": "pop", "k-pop": "pop",
}
GENRE_CUES: dict[str, str] = {
    "four on the floor": "house", "four-on-the-floor": "house", "club": "house",
    "dancefloor": "house", "dance floor": "house", "rave": "house", "dj": "house",
    "vinyl crackle": "lofi", "crackle": "lofi", "beats to study": "lofi", "study beats": "lofi",
    "study": "lofi", "tape hiss": "lofi", "dusty": "lofi",
    "massive attack": "triphop", "portishead": "triphop", "breakbeat": "triphop",
    "noir": "triphop", "smoky": "triphop", "smoke-filled": "triphop",
    "saxophone": "jazz", "sax": "jazz", "trumpet": "jazz", "walking bass": "jazz",
    "upright bass": "jazz", "brushes": "jazz", "swing": "jazz", "speakeasy": "jazz", "lounge": "jazz",
    "campfire": "folk", "acoustic guitar": "folk", "fiddle": "folk", "banjo": "folk",
    "harmonica": "folk", "acoustic": "folk", "fingerpicked": "folk",
    "distorted": "rock", "electric guitar": "rock", "guitar riffs": "rock", "riff": "rock",
    "riffs": "rock", "power chords": "rock", "mosh": "rock", "stadium": "rock",
    "pads": "ambient", "drones": "ambient", "texture": "ambient", "textures": "ambient",
    "meditation": "ambient", "meditative": "ambient", "floating": "ambient", "space": "ambient",
    "no beat": "ambient", "beatless": "ambient",
    "radio": "pop", "catchy": "pop", "hook": "pop", "chart": "pop", "sing-along": "pop",
    "piano ballad": "ballad", "love song": "ballad", "torch song": "ballad", "slow dance": "ballad",
    "waltz": "ballad",
}
MOOD_WORDS: dict[str, str] = {
    "moody": "moody", "brooding": "moody", "broody": "moody", "late-night": "moody",
    "late night": "moody", "nocturnal": "moody", "smoky": "moody", "noir": "moody",
    "introspective": "moody", "pensive": "moody",
    "sad": "sad", "melancholic": "sad", "melancholy": "sad", "sorrowful": "sad", "mournful": "sad",
    "heartbroken": "sad", "heartbreak": "sad", "grief": "sad", "grieving": "sad", "tearful": "sad",
    "lonely": "sad", "blue": "sad", "bittersweet": "sad", "wistful": "sad", "sombre": "sad",
    "somber": "sad", "funeral": "sad", "breakup": "sad", "break-up": "sad",
    "happy": "happy", "joyful": "happy", "joyous": "happy", "cheerful": "happy", "sunny": "happy",
    "playful": "happy", "carefree": "happy", "fun": "happy", "bouncy": "happy", "summery": "happy",
    "dark": "dark", "sinister": "dark", "ominous": "dark", "menacing": "dark", "gloomy": "dark",
    "haunting": "dark", "haunted": "dark", "eerie": "dark", "creepy": "dark", "gothic": "dark",
    "dreamy": "dreamy", "ethereal": "dreamy", "hazy": "dreamy", "dreamlike": "dreamy",
    "floaty": "dreamy", "nostalgic": "dreamy", "shimmering": "dreamy", "celestial": "dreamy",
    "energetic": "energetic", "driving": "energetic", "pumping": "energetic", "hype": "energetic",
    "high-energy": "energetic", "high energy": "energetic", "aggressive": "energetic",
    "banging": "energetic", "frantic": "energetic", "rowdy": "energetic", "workout": "energetic",
    "calm": "calm", "peaceful": "calm", "serene": "calm", "relaxed": "calm", "relaxing": "calm",
    "soothing": "calm", "tranquil": "calm", "mellow": "calm", "chill": "calm", "chilled": "calm",
    "laid-back": "calm", "laid back": "calm", "lazy": "calm", "sleepy": "calm",
    "tense": "tense", "anxious": "tense", "suspenseful": "tense", "suspense": "tense",
    "nervous": "tense", "uneasy": "tense", "urgent": "tense", "paranoid": "tense",
    "thriller": "tense", "chase": "tense",
    "fragile": "fragile", "delicate": "fragile", "vulnerable": "fragile", "tender": "fragile",
    "intimate": "fragile", "hushed": "fragile", "brittle": "fragile",
    "uplifting": "uplifting", "hopeful": "uplifting", "triumphant": "uplifting",
    "euphoric": "uplifting", "anthemic": "uplifting", "inspiring": "uplifting",
    "soaring": "uplifting", "optimistic": "uplifting", "victorious": "uplifting",
}
# Words that sound like moods but describe vocals when next to a voice word ("fragile vocals").
VOICE_NOUNS = ("vocals", "vocal", "voice", "voices", "singing", "singer", "vocalist", "choir",
               "rap", "rapping", "humming")
VOICE_WORDS = ("breathy", "whispered", "whispery", "falsetto", "raspy", "husky", "soulful",
               "airy", "spoken word", "crooning", "operatic", "auto-tuned", "autotuned")

ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "piano": ("melody", "chords"), "keys": ("chords",), "rhodes": ("chords",),
    "guitar": ("melody", "chords"), "guitars": ("melody", "chords"), "organ": ("chords",),
    "synth": ("chords",), "synths": ("chords",), "pad": ("chords",), "pads": ("chords",),
    "strings": ("chords",), "chords": ("chords",), "harmony": ("chords",),
    "melody": ("melody",), "lead": ("melody",), "flute": ("melody",), "sax": ("melody",),
    "saxophone": ("melody",), "trumpet": ("melody",), "violin": ("melody",),
    "whistle": ("melody",),
    "bass": ("bass",), "bassline": ("bass",), "sub": ("bass",), "808": ("bass",),
    "drums": ("drums",), "drum": ("drums",), "beat": ("drums",), "beats": ("drums",),
    "percussion": ("drums",), "kick": ("drums",), "groove": ("drums",),
}

ENERGY_WORDS: dict[str, float] = {
    "chill": 0.3, "chilled": 0.3, "laid-back": 0.3, "laid back": 0.3, "relaxed": 0.3,
    "mellow": 0.3, "gentle": 0.25, "soft": 0.25, "quiet": 0.2, "sparse": 0.25, "minimal": 0.25,
    "calm": 0.25, "sleepy": 0.15, "lazy": 0.3, "hushed": 0.15, "still": 0.15,
    "steady": 0.5, "groovy": 0.6, "bouncy": 0.65, "upbeat": 0.7, "lively": 0.7,
    "intense": 0.85, "driving": 0.8, "energetic": 0.8, "high-energy": 0.9, "high energy": 0.9,
    "pumping": 0.85, "banging": 0.9, "powerful": 0.85, "loud": 0.85, "aggressive": 0.9,
    "explosive": 0.95, "frantic": 0.9, "massive": 0.85, "peak-time": 0.9,
}
TEMPO_WORDS: dict[str, float] = {
    "very slow": 0.7, "slow": 0.82, "slowly": 0.82, "sluggish": 0.78, "lazy": 0.88,
    "mid-tempo": 1.0, "midtempo": 1.0, "brisk": 1.12, "fast": 1.2, "quick": 1.15,
    "uptempo": 1.15, "up-tempo": 1.15, "frantic": 1.3, "very fast": 1.35, "racing": 1.3,
}
# Energy shapes over the sections, from words about how the piece moves.
CURVE_WORDS: dict[str, str] = {
    "builds": "rise", "building": "rise", "build up": "rise", "crescendo": "rise",
    "rising": "rise", "grows": "rise", "swells": "rise", "fades": "fall", "fade out": "fall",
    "fading": "fall", "winds down": "fall", "dies away": "fall", "drop": "peak", "climax": "peak",
    "steady": "flat", "constant": "flat", "unchanging": "flat", "hypnotic": "flat",
}
