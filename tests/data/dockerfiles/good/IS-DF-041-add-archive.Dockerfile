FROM scratch
ADD rootfs.tar.xz /
USER 65534
