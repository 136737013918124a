FROM scratch
ADD rootfs.tar.gz /
USER 65534
