from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """`{"results", "next", "previous"}` with an opaque cursor; `page_size` up to 1000."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-created_at"
