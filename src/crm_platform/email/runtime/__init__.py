"""Code that runs in AWS for e-mail: the SES SMTP credentials rotation function."""
