"""Control videos for the LTX-2 IC-LoRAs: reference frames from what a request carries."""
