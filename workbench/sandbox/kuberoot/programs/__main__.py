"""Entry point of every fake binary: dispatch on the component the build wrote in."""

import sys

import runtime


def main():
    component = runtime.COMPONENT
    if component == "etcd":
        import etcd as program
    elif component == "kube-apiserver":
        import apiserver as program
    elif component == "kubelet":
        import kubelet as program
    elif component == "kubectl":
        import kubectl as program
    else:
        import components as program
    try:
        program.main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit(130)


main()
