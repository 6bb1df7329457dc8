"""The local drill: the AWS emulator, the platform stood up in it, and the rehearsal."""
