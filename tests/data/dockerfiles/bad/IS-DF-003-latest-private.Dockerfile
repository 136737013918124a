FROM registry.example.com/team/app:latest
USER 10001
