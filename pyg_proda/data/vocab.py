"""Vocabularies shared by the datasets and the models.

Action Genome's 36 object classes and 26 relation classes (see
``formats.md`` §2.6-2.7 of the reference). Object names are in the slash form
used by ``object_bbox_and_relationship.pkl``; class id ``i`` of the data model
is the position in :data:`AG_OBJECT_CLASSES` (``person`` is 0, so Action
Genome's standard index minus one). Relation names are the pickle's
underscore form; their position is Action Genome's global relation id, and
:data:`AG_RELATION_GROUPS` maps each group to its slice of that list.
"""
from typing import Dict, List, Tuple

AG_OBJECT_CLASSES: List[str] = [
    'person', 'bag', 'bed', 'blanket', 'book', 'box', 'broom', 'chair',
    'closet/cabinet', 'clothes', 'cup/glass/bottle', 'dish', 'door',
    'doorknob', 'doorway', 'floor', 'food', 'groceries', 'laptop', 'light',
    'medicine', 'mirror', 'paper/notebook', 'phone/camera', 'picture',
    'pillow', 'refrigerator', 'sandwich', 'shelf', 'shoe', 'sofa/couch',
    'table', 'television', 'towel', 'vacuum', 'window'
]

AG_RELATION_CLASSES: List[str] = [
    # attention (person -> object)
    'looking_at', 'not_looking_at', 'unsure',
    # spatial (object -> person)
    'above', 'beneath', 'in_front_of', 'behind', 'on_the_side_of', 'in',
    # contacting (person -> object)
    'carrying', 'covered_by', 'drinking_from', 'eating',
    'have_it_on_the_back', 'holding', 'leaning_on', 'lying_on',
    'not_contacting', 'other_relationship', 'sitting_on', 'standing_on',
    'touching', 'twisting', 'wearing', 'wiping', 'writing_on'
]

#: Relation group -> (first global id, number of classes).
AG_RELATION_GROUPS: Dict[str, Tuple[int, int]] = {
    'attention': (0, 3),
    'spatial': (3, 6),
    'contacting': (9, 17),
}


#: The lines of Action Genome's ``object_classes.txt`` as distributed (no
#: slashes; the known copy has a trailing space after ``closetcabinet``).
#: Used by fixture and benchmark writers; the loaders match names through
#: :func:`normalize_name`.
AG_OBJECT_FILE_LINES: List[str] = [
    name.replace('/', '') + (' ' if name == 'closet/cabinet' else '')
    for name in AG_OBJECT_CLASSES
]

#: The lines of ``relationship_classes.txt`` (no underscores).
AG_RELATION_FILE_LINES: List[str] = [
    name.replace('_', '') for name in AG_RELATION_CLASSES
]


def normalize_name(name: str) -> str:
    r"""Canonical form used to match class names across files: lower case,
    without ``/``, ``_`` and whitespace (``'closetcabinet '`` and
    ``'closet/cabinet'`` both become ``'closetcabinet'``)."""
    return ''.join(ch for ch in name.lower()
                   if ch not in '/_' and not ch.isspace())
