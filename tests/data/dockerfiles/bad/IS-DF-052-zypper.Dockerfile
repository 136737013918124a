FROM registry.example.com/opensuse/leap:15.6
RUN zypper install -y curl
USER 10001
