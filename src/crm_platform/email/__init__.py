"""E-mail: Amazon SES in each serving region (identity, DKIM, configuration set, SMTP login)."""
