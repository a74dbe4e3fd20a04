from rest_framework.authentication import TokenAuthentication


class PersonalTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <personal token>` for observers, researchers, coordinators and alert feeds."""

    keyword = "Token"
