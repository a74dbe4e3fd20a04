"""Query-parameter filters shared by the API's lists."""

import django_filters

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """true/false (1/0, yes/no); anything else is a 400 naming the parameter, not a silently ignored filter."""

    def __init__(self, *args, **kwargs):
        choices = [(w, w) for w in (*TRUE_WORDS, *FALSE_WORDS)]
        super().__init__(*args, choices=choices, coerce=lambda v: v in TRUE_WORDS, **kwargs)
