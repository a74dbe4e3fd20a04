from django.apps import AppConfig


class NetworkConfig(AppConfig):
    name = "network"
    verbose_name = "Telescope network"

    def ready(self) -> None:
        from network.offline import configure_astropy_offline

        configure_astropy_offline()
