"""Releasing Twenty: versions and upgrade stops, the release record, publishing the image,
the one-off migration task, and the files the pipeline's deploy actions read.

The pipeline's CodeBuild steps and ``crm-platform deploy`` both run this code (through
``crm-platform release ...``), so a release reaches the database the same way either way.
"""
