# A changed unit file is read again before its service restarts; runs only when one
# changed (each unit says so with onchanges_in), so a second highstate changes nothing.
systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
